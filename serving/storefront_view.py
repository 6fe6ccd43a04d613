"""The storefront page in the browser (`/ui/households/{id}/storefront`): placements as tables, then what the
filters dropped and the page's provenance. Rendered from the same page data the JSON route returns."""

from __future__ import annotations

from typing import Any

from xpollinate.serving.page_layout import esc, notice, num, page, table


def storefront_html(data: dict[str, Any]) -> str:
    prov = data["provenance"]
    context = data.get("context")
    title = f"Storefront of household {data['household_id']}" + (f" ({context})" if context else "")
    parts = [
        f'<form method="get"><label>Context <input type="text" name="context" maxlength="200" '
        f'value="{esc(context or "")}"></label> <button>Show</button></form>'
    ]
    for fallback in prov.get("fallbacks", []):
        parts.append(notice(f"fallback: {fallback}", "error"))
    for p in data["placements"]:
        coherence = f" · coherence {num(p['coherence'], 2)}" if p.get("coherence") is not None else ""
        keywords = ", ".join(esc(k) for k in p["keywords"]) or "-"
        parts.append(
            f"<h2>{esc(p['title'])}</h2><p class='muted'>{esc(p['why'])}{coherence} · keywords: {keywords} · "
            f"<span class='src'>{esc(p['source'])}</span></p>"
        )
        rows = [
            [esc(i["text"]), esc(i["keyword"]), num(i["score"]), num(i["coherence"], 2), esc(i["bought_before"])]
            for i in p["items"]
        ]
        parts.append(table(["item", "keyword", "score", "P(fits theme)", "bought before"], rows))
    if data.get("dropped"):
        rows = [[esc(d["kind"]), esc(d["placement"]), esc(d.get("item_id")), esc(d["reason"])] for d in data["dropped"]]
        parts.append(
            "<h2>Dropped by the filters</h2>" + table(["kind", "placement", "item", "reason"], rows, "dropped")
        )
    calls = [
        [esc(c["prompt"]), esc(c["prompt_sha256"][:12]), esc(c["cached"]), esc(c["ok"]), num(c["seconds"], 2)]
        for c in prov.get("llm_calls", [])
    ]
    served = "page cache" if prov.get("served_from_page_cache") else f"generated in {num(prov['seconds'], 1)} s"
    parts.append(
        f"<h2>Provenance</h2><p class='muted'>{esc(prov['llm'])} · ranker {esc(prov['ranker'])} "
        f"{esc(prov.get('ranker_note') or '')} · data build {esc(prov['data_build'])} · {esc(served)} · "
        f"keywords outside the vocabulary: {esc(prov['keywords_outside_vocabulary'])}</p>"
    )
    parts.append(table(["prompt", "sha256", "cached", "ok", "seconds"], calls, "calls"))
    if data.get("history_summary"):
        parts.append("<h2>Recent baskets the LLM saw</h2><pre>" + esc("\n".join(data["history_summary"])) + "</pre>")
    return page(title, "".join(parts))
