"""`xp index build|search`: the GM catalog embedding index and the semantic matcher over it."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.table import Table

from xpollinate.catalog.store import DataStore
from xpollinate.cli.common import handle_errors, out, stage_bars, status
from xpollinate.retrieval.catalog_index import IndexScope, build_index

app = typer.Typer(help="Build and query the GM catalog embedding index (chromadb + FAISS).", no_args_is_help=True)


class ModelName(str, Enum):
    minilm = "minilm"
    mpnet = "mpnet"


ModelOption = Annotated[
    ModelName, typer.Option("--model", help="Embedding model: minilm (default) or mpnet (all-mpnet-base-v2 parts).")
]
AllItemsOption = Annotated[
    bool, typer.Option("--all-items", help="Index every GM item, not only items sold at least once.")
]


@app.command("build")
@handle_errors
def build_cmd(
    model: ModelOption = ModelName.minilm,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if an index for these inputs exists.")] = False,
    all_items: AllItemsOption = False,
) -> None:
    """Embed the GM items of the current data store into a persisted index (idempotent).

    The index is written beside the one in use and renamed into place, so an interrupted
    build leaves the previous index untouched; a re-run with the same data, model and
    options is a no-op.
    """
    store = DataStore.open()
    with stage_bars(transient=True) as tick:
        index, built = build_index(
            store,
            model.value,
            IndexScope(sold_only=not all_items),
            force=force,
            progress=lambda done, total: tick(f"embedding GM item texts ({model.value})", done, total),
        )
    m = index.manifest
    if built:
        out.print(
            f"catalog index built: {m['n_items']:,} GM items, {m['n_texts']:,} distinct texts, "
            f"{m['n_product_types']:,} product types; embedding {m['embed_seconds']} s "
            f"({m['texts_per_second']} texts/s), chroma {m['chroma_seconds']} s: {index.path}"
        )
    else:
        out.print(f"catalog index up to date ({m['n_items']:,} GM items, model {m['model']}): {index.path}")


@app.command("search")
@handle_errors
def search_cmd(
    query: Annotated[str, typer.Argument(help='A recommendation-like text, e.g. "egg poacher".')],
    k: Annotated[int, typer.Option("--k", min=1, max=200, help="Items matched directly.")] = 10,
    expand: Annotated[
        bool, typer.Option("--expand", help="Add similar items from the matched and neighbouring product types.")
    ] = False,
    per_pt: Annotated[
        int, typer.Option("--per-pt", min=1, max=20, help="With --expand: items added per product type.")
    ] = 2,
    neighbour_pts: Annotated[
        int,
        typer.Option(
            "--neighbour-pts", min=0, max=10, help="With --expand: neighbouring product types per matched one."
        ),
    ] = 1,
    model: ModelOption = ModelName.minilm,
    all_items: AllItemsOption = False,
) -> None:
    """Match one text against the GM catalog and print the items, best first."""
    from xpollinate.retrieval.matcher import SemanticMatcher

    store = DataStore.open()
    with status("matching") as step:
        step("loading the index")
        matcher = SemanticMatcher.open(store, model.value, IndexScope(sold_only=not all_items))
        step("embedding the query")
        found = matcher.match([query], k=k)
        if expand:
            found = matcher.expand(found, per_pt=per_pt, neighbour_pts=neighbour_pts)
    table = Table(title=f"{query!r} -> GM items ({matcher.model})")
    for col, justify in (
        ("#", "right"),
        ("item", "right"),
        ("score", "right"),
        ("product type", "left"),
        ("item text", "left"),
        ("from", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for mt in found[0]:
        origin = "query" if not mt.expanded else f"{mt.via.replace('_', ' ')} of {mt.source_item_id}"
        table.add_row(str(mt.rank), str(mt.item_id), f"{mt.score:.3f}", mt.product_type, mt.text, origin)
    out.print(table)
    if expand:
        out.print("score: cosine to the query; for expanded items, cosine to the item they came from")
