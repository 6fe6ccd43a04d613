"""`xp train cross-encoder`: a catalog-specific cross-encoder from the MiniLM backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.table import Table

from xpollinate.catalog.store import DataStore
from xpollinate.cli.common import handle_errors, out, stage_bars
from xpollinate.judges.ce_training import HierarchyTeacher, LLMTeacher, Teacher, catalog_cores, run_training
from xpollinate.reports import git_commit
from xpollinate.xpstore.item_xp_store import ItemXPStore, store_path

app = typer.Typer(help="Train the project's own models.", no_args_is_help=True)


@app.command("cross-encoder")
@handle_errors
def cross_encoder_cmd(
    teacher: Annotated[
        Literal["llm", "hierarchy"],
        typer.Option(help="Labels from 'llm' (match@v1, cached) or 'hierarchy' (PT-name queries only)."),
    ] = "llm",
    llm: Annotated[
        Optional[str], typer.Option(help="Teacher LLM (provider:model); default XP_LLM / config / local.")
    ] = None,
    pt_queries: Annotated[int, typer.Option(help="GM product-type names used as queries.")] = 300,
    hard: Annotated[int, typer.Option(help="Nearest item texts paired with each query.")] = 6,
    easy: Annotated[int, typer.Option(help="Random item texts of other departments per query.")] = 2,
    epochs: Annotated[int, typer.Option(min=1, max=50)] = 3,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-4,
    batch_size: Annotated[int, typer.Option(min=1, max=512)] = 16,
    seed: Annotated[int, typer.Option()] = 13,
    results: Annotated[
        Optional[Path],
        typer.Option(help="Write the results page cross-encoder (md, html, json) into this folder, e.g. docs/results."),
    ] = None,
) -> None:
    """Pairs from the catalog hierarchy and from stored item-XP recommendations, labelled by a
    teacher, split by query; held-out AUC and accuracy are printed next to the fallback scorer's.
    The model is saved to $XP_HOME/models/cross-encoder/current and used by `xp run` from then on."""
    commit = git_commit() if results is not None else ""  # before the run: the code that made the page
    store = DataStore.open()
    items = store.items()
    graph_queries: list[str] = []
    if store_path().is_file():
        xp_store = ItemXPStore()
        graph_queries = xp_store.distinct_recommendations()
        xp_store.close()
    labeller: Teacher | None
    if teacher == "hierarchy":
        labeller = HierarchyTeacher(catalog_cores(items))
    else:
        from xpollinate.llm import get_llm

        labeller = None  # set below, once the progress bar exists
    with stage_bars() as progress:
        if labeller is None:
            labeller = LLMTeacher(get_llm(llm), progress=progress)
        result = run_training(
            items,
            graph_queries,
            labeller,
            n_pt_queries=pt_queries,
            hard=hard,
            easy=easy,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
        )
    report = result.report
    table = Table(title=f"held-out pairs ({report['pairs']['held_out']}), teacher {report['teacher']}")
    for col in ("scorer", "AUC", "accuracy @0.5", "positives"):
        table.add_column(col, justify="left" if col == "scorer" else "right")
    for name, m in report["held_out_metrics"].items():
        table.add_row(name, f"{m['auc']:.3f}", f"{m['accuracy']:.3f}", f"{int(m['positives'])}/{int(m['pairs'])}")
    out.print(table)
    out.print(f"saved {result.path} ({report['scorer_id']}, {report['seconds']} s)")
    if results is not None:
        _write_page(report, results, commit)


def _write_page(report: dict, folder: Path, commit: str) -> None:
    """The results page cross-encoder: held-out AUC and accuracy of the trained model beside the fallback."""
    import pandas as pd

    from xpollinate.reports import Report, write_page

    frame = pd.DataFrame(
        [
            {
                "scorer": name,
                "AUC": m["auc"],
                "accuracy @0.5": m["accuracy"],
                "positives": int(m["positives"]),
                "pairs": int(m["pairs"]),
            }
            for name, m in report["held_out_metrics"].items()
        ]
    )
    text = (
        f"Teacher: {report['teacher']}. Queries: {report['queries']['pt-name']} GM product-type names and "
        f"{report['queries']['graph']} stored item-XP recommendation texts, split by query; pairs "
        f"{report['pairs']['train']} for training, {report['pairs']['held_out']} held out "
        f"({report['pairs']['unlabelled']} the teacher could not label). Each query is paired with its nearest item "
        "texts (hard pairs) and random items of other departments (easy negatives). 'hard negatives': the positives "
        "against only the negatives of the query's own category or department but another product type. The fallback "
        "is the MiniLM bi-encoder cosine, not a cross-encoder. "
        f"{report['epochs']} epochs, batch {report['batch_size']}, lr {report['lr']:g}, seed {report['seed']}; "
        f"{report['seconds']} s in all (labelling included)."
    )
    page = Report(
        "Cross-encoder: held-out pairs, trained model vs the bi-encoder fallback",
        [("Held-out AUC and accuracy", text, frame)],
        headline={
            "teacher": report["teacher"],
            "pairs": report["pairs"],
            "held_out_metrics": report["held_out_metrics"],
        },
    )
    out.print(f"wrote {write_page(page, folder, 'cross-encoder', commit=commit)}")
