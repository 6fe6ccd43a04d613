"""Entry point of the `xp` command: one Typer app with a sub-command per concern."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

app = typer.Typer(
    name="xp",
    help="xpollinate: cross-category grocery -> general merchandise recommendations.\n\n"
    "Runtime data lives in the run directory ($XP_HOME, default ./.xp).\n\n"
    "Exit codes: 0 success; 1 a batch or A/B finished with failed anchors (each recorded, see `xp runs RUN_ID`); "
    "2 a usage, input or setup error (the message says what to do); 130 interrupted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"xpollinate {version('xpollinate')}")
        except PackageNotFoundError:
            typer.echo("xpollinate (not installed)")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log retries, repairs and timings of the LLM layer to stderr.")
    ] = False,
) -> None:
    """xpollinate: cross-category grocery -> general merchandise recommendations."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


from xpollinate.cli import (  # noqa: E402  (sub-commands register on import)
    ab,
    batch,
    cache,
    candidates,
    config,
    data,
    distill,
    evals,
    experiments,
    groclm,
    index,
    prompts,
    ranker,
    review,
    run,
    serve,
    storefront,
    train,
    twotower,
)

app.add_typer(data.app, name="data")
app.add_typer(candidates.assoc_app, name="assoc")
app.command("candidates")(candidates.candidates_cmd)
app.add_typer(prompts.app, name="prompts")
app.add_typer(cache.app, name="cache")
app.add_typer(train.app, name="train")
app.add_typer(index.app, name="index")
app.command("run")(run.run_cmd)
app.command("batch")(batch.batch_cmd)
app.command("runs")(batch.runs_cmd)
app.command("ab")(ab.ab_cmd)
app.add_typer(review.app, name="review")
app.add_typer(ranker.app, name="ranker")
app.command("serve")(serve.serve_cmd)
app.add_typer(twotower.app, name="twotower")
app.add_typer(evals.app, name="eval")
app.add_typer(config.app, name="config")
app.add_typer(groclm.app, name="groclm")
app.add_typer(experiments.app, name="experiments")
app.command("storefront")(storefront.storefront_cmd)
app.add_typer(distill.app, name="distill")
