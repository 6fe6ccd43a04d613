"""`xp storefront`: a household's personal storefront page (themed placements of catalog items)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from xpollinate.cli.common import JsonOption, emit_json, err, handle_errors, out
from xpollinate.cli.options import LLMOption


@handle_errors
def storefront_cmd(
    household: Annotated[int, typer.Option(help="The household id.")],
    context: Annotated[
        Optional[str], typer.Option(help="Shopping context, 1-200 characters (e.g. 'hosting a barbecue').")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Placements asked of the LLM (1-12).")] = 4,
    items: Annotated[int, typer.Option(help="Items per placement (1-30).")] = 6,
    keywords: Annotated[int, typer.Option(help="Keywords (catalog product types) per placement (1-10).")] = 4,
    threshold: Annotated[float, typer.Option(help="Judge P(fits theme) below which an item is dropped.")] = 0.3,
    llm_rerank: Annotated[
        bool, typer.Option("--llm-rerank", help="Re-order each placement's items with the LLM re-ranker.")
    ] = False,
    review: Annotated[
        bool, typer.Option(help="Let the judge drop unsafe or irrelevant themes before their keywords.")
    ] = True,
    generator: Annotated[
        Literal["teacher", "student"],
        typer.Option(help="Who writes themes and keywords: teacher (the LLM) or student (xp distill train)."),
    ] = "teacher",
    refresh: Annotated[bool, typer.Option(help="Generate again instead of serving the cached page.")] = False,
    llm: LLMOption = None,
    json_out: JsonOption = None,
) -> None:
    """The household's storefront: LLM placement themes from its recent baskets (and the context), keywords
    decoded under the catalog vocabulary, items retrieved and ordered by the re-ranker, filtered by a judge.
    Pages are cached: the same request is answered from the page cache unless --refresh."""
    from xpollinate.storefront.errors import check_context
    from xpollinate.storefront.page import PageOptions, Storefront

    context = check_context(context)  # bad input fails before anything loads
    options = PageOptions(
        k=k,
        items=items,
        keywords=keywords,
        threshold=threshold,
        llm_rerank=llm_rerank,
        review=review,
        generator=generator,
    ).check()
    with err.status("storefront: data store and models"):
        sf = Storefront.open(llm=llm)
    with err.status(f"storefront: household {household}"):
        page = sf.page(household, context, options, refresh=refresh)
    if emit_json(json_out, page.model_dump(mode="json")):
        return
    prov = page.provenance
    source = "page cache" if prov.served_from_page_cache else f"{prov.seconds:.1f} s"
    out.print(
        f"household {page.household_id}" + (f", context {page.context!r}" if page.context else "") + f" ({source})"
    )
    for placement in page.placements:
        coherence = f", coherence {placement.coherence:.2f}" if placement.coherence is not None else ""
        coherence += f", review {placement.review:.2f}" if placement.review is not None else ""
        out.print(f"\n[bold]{placement.title}[/bold]: {placement.why}{coherence}", highlight=False)
        if placement.keywords:
            out.print(f"  keywords: {', '.join(placement.keywords)}", highlight=False)
        for item in placement.items:
            own = f" (bought {item.bought_before}x)" if item.bought_before else ""
            out.print(f"  - {item.text}{own}", highlight=False)
    if page.dropped:
        out.print(f"\ndropped: {len(page.dropped)}")
        for d in page.dropped:
            what = f"item {d.item_id}" if d.item_id is not None else d.kind
            out.print(f"  - {d.placement or '-'}: {what}: {d.reason}", highlight=False)
    out.print(
        f"\n{prov.llm}"
        + (f", themes and keywords by the student {prov.student}" if prov.generator == "student" else "")
        + f", ranker {prov.ranker}; {len(prov.llm_calls)} LLM calls ({prov.cache_hits} from the cache)",
        highlight=False,
    )
    for fallback in prov.fallbacks:
        out.print(f"fallback: {fallback}", highlight=False)
