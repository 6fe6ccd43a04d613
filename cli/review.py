"""`xp review export|import`: human-in-the-loop validation of a run (XP paper 2.1.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from xpollinate.cli.common import err, handle_errors, out
from xpollinate.review import export_sheet, import_labels
from xpollinate.xpstore.item_xp_store import store_path

app = typer.Typer(help="Review a run by hand: export a stratified sheet, import the labels.", no_args_is_help=True)


@app.command("export")
@handle_errors
def export_cmd(
    run_id: Annotated[str, typer.Argument(help="The run to review (see `xp runs`).")],
    out_path: Annotated[
        Optional[Path], typer.Option("--out", help="CSV to write (default: review-RUN_ID.csv here).")
    ] = None,
    per_band: Annotated[int, typer.Option(help="Pairs sampled from each quality band (Poor included).")] = 40,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
) -> None:
    """Write a blind review sheet: a band-stratified sample of the run's scored (recommendation, item)
    pairs, scores hidden. Fill `label` (1 relevant / 0 not) and, for 0, `error_source`
    (matching | expansion | llm), then run `xp review import`."""
    path = out_path or Path(f"review-{run_id}.csv")
    meta = export_sheet(store_path(), run_id, path, per_band=per_band, seed=seed)
    err.print(
        f"wrote {len(meta['rows'])} pairs to {path} (sheet {meta['sheet']}; population by band: {meta['population']})"
    )


@app.command("import")
@handle_errors
def import_cmd(sheet: Annotated[Path, typer.Argument(help="A filled review sheet.")]) -> None:
    """Read the labels back: relevancy rate of what the pipeline keeps, error attribution, and the
    agreement of the labels with the combined-score decision (keep unless Poor)."""
    r = import_labels(sheet)
    t = Table(title=f"review of run {r.run_id} (sheet {r.sheet})", title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("labelled / left blank", f"{r.labelled} / {r.unlabelled}")
    t.add_row(
        "relevancy rate of kept pairs (raw / band-weighted)",
        f"{r.relevancy_rate:.1%} / {r.relevancy_rate_weighted:.1%}",
    )
    t.add_row("agreement label vs decision (raw / band-weighted)", f"{r.agreement:.1%} / {r.agreement_weighted:.1%}")
    t.add_row("Cohen's kappa", f"{r.kappa:.3f}")
    for k, v in r.confusion.items():
        t.add_row(k, str(v))
    for reason, share in r.error_attribution.items():
        t.add_row(f"errors of kept pairs: {reason}", f"{share:.1%}")
    out.print(t)
