"""`xp data build|info`: the normalized store built from the real dataset."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from xpollinate.catalog.build import BuildOptions, build
from xpollinate.catalog.store import DataStore
from xpollinate.cli.common import JsonOption, emit_json, handle_errors, out, status
from xpollinate.errors import XPError

app = typer.Typer(help="Build and inspect the normalized grocery data store.", no_args_is_help=True)


def parse_weeks(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        lo, _, hi = value.partition("-")
        return int(lo), int(hi or lo)
    except ValueError:
        raise XPError(f"--weeks: expected FIRST-LAST such as 1-8, got {value!r}") from None


@app.command("build")
@handle_errors
def build_cmd(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the inputs did not change.")] = False,
    weeks: Annotated[
        Optional[str], typer.Option(help="Only transactions of these weeks, e.g. 1-8 (a slice for quick runs).")
    ] = None,
) -> None:
    """Build the store from Complete Journey (idempotent: a no-op when nothing changed).

    The build is written beside the current one and switched in atomically, so an
    interrupted build leaves the previous store untouched.
    """
    with status("building the data store") as step:
        store, built = build(options=BuildOptions(weeks=parse_weeks(weeks)), force=force, progress=step)
    verb = f"built in {store.manifest['seconds']} s" if built else "up to date"
    out.print(f"data store {store.build_id} {verb}: {store.path}")


@app.command("info")
@handle_errors
def info_cmd(json_out: JsonOption = None) -> None:
    """Print the store's counts: items, grocery/GM split, baskets, households."""
    store = DataStore.open()
    c = store.manifest["counts"]
    payload = {
        "build_id": store.build_id,
        "source": store.manifest["source"],
        "weeks": store.manifest.get("weeks"),
        "counts": c,
    }
    if emit_json(json_out, payload):
        return
    table = Table(title=f"data store {store.build_id}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("items (catalog products)", c["items"]),
        ("  grocery (OG)", c["items_grocery"]),
        ("  general merchandise (GM)", c["items_gm"]),
        ("  excluded (coupons, fuel, tobacco, OTC drugs, ...)", c["items_excluded"]),
        ("  items ever sold", c["items_sold"]),
        ("product types", c["product_types"]),
        ("baskets", c["baskets"]),
        ("  baskets with both OG and GM", c["baskets_with_grocery_and_gm"]),
        ("basket lines (distinct items per basket)", c["basket_lines"]),
        ("households", c["households"]),
        ("  with demographics", c["households_with_demographics"]),
        ("lines dropped (product not in catalog)", c.get("lines_dropped_unknown_product", 0)),
    ]
    for name, value in rows:
        table.add_row(name, f"{value:,}")
    out.print(table)
    weeks = store.manifest.get("weeks")
    out.print(f"source: {store.manifest['source']}" + (f" (weeks {weeks[0]}-{weeks[1]})" if weeks else ""))
