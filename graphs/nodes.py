"""Graph nodes that are not agents or judges: shortlisting, merging branch output, the historical
half of Item XP, matching, combining scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from xpollinate.agents.normalize import key
from xpollinate.agents.recommend import CatalogNames, with_product_types
from xpollinate.judges.bands import Band, band, combined_score
from xpollinate.judges.cross_encoder import pair_key
from xpollinate.judges.llm_judge import pt_label, triplet_key
from xpollinate.records import (
    Drop,
    FailureRecord,
    ItemXPState,
    Match,
    Rec,
    ScoredItem,
    Source,
    Theme,
    anchor_of,
    records,
)
from xpollinate.retrieval.grocery_filter import GroceryFilter


class Shortlists(Protocol):
    """What the graph needs to ground generation (see `retrieval.shortlist.Shortlister`)."""

    def shortlist(self, anchor_name: str, anchor_pt: str, themes: Sequence[str], size: int) -> list[str]: ...


class HistoricalSource(Protocol):
    """The anchor product type's historical GM product types (see `retrieval.shortlist.HistoricalPTs`)."""

    def of(self, anchor_pt: str) -> Sequence[Any]: ...  # items with .product_type, .strength, .source


@dataclass(frozen=True)
class ShortlistNode:
    """The anchor's shortlist of catalog GM product types (after the themes, which it also uses)."""

    shortlister: Shortlists
    size: int = 40

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        anchor = anchor_of(state)
        themes = [t.context for t in records(state, "themes", Theme)]
        names = self.shortlister.shortlist(anchor.name, anchor.product_type, themes, self.size)
        if not names:
            return {
                "shortlist": [],
                "failures": [
                    FailureRecord(
                        stage="shortlist",
                        prompt="-",
                        kind="invalid_input",
                        attempts=0,
                        subject=anchor.text[:200],
                        message="no catalog product type to offer: the grounding vocabulary gave an empty shortlist",
                    )
                ],
            }
        return {"shortlist": names}


@dataclass(frozen=True)
class MergeNode:
    """Join the theme branches: a stable order, cross-theme duplicates and grocery recs removed.

    Recommendations that name a catalog GM product type (all grounded picks, and free text that
    happens to) are tagged with it and skip the grocery filter; the other distinct ones are
    counted as out of the catalog (before the grocery filter and the matcher)."""

    grocery_filter: GroceryFilter | None = None
    names: CatalogNames | None = None

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        theme_rank = {t.context: i for i, t in enumerate(records(state, "themes", Theme))}
        recs = sorted(records(state, "recs", Rec), key=lambda r: (theme_rank.get(r.theme or "", 0), r.order))
        recs = [r if r.product_type else with_product_types([r], self.names)[0] for r in recs]
        kept: list[Rec] = []
        drops: list[Drop] = []
        seen: set[str] = set()
        for rec in recs:
            k = key(rec.text)
            if k in seen:
                drops.append(Drop(stage="merge", reason="duplicate across themes", text=rec.text, theme=rec.theme))
                continue
            seen.add(k)
            kept.append(rec)
        free = [r for r in kept if not r.product_type]
        update: dict[str, Any] = {"n_distinct_recs": len(kept)}
        if self.names is not None:
            update["out_of_catalog"] = [r.text for r in free]
        if self.grocery_filter is not None and free:
            verdicts = dict(zip((r.rec_id for r in free), self.grocery_filter.check([r.text for r in free])))
            grocery = [r for r in free if verdicts[r.rec_id].is_grocery]
            drops += [
                Drop(
                    stage="merge",
                    reason="grocery item",
                    text=r.text,
                    theme=r.theme,
                    detail=f"~ {verdicts[r.rec_id].nearest_grocery_pt}",
                )
                for r in grocery
            ]
            kept = [r for r in kept if r.product_type or not verdicts[r.rec_id].is_grocery]
        return {**update, "candidates": kept, "dropped": drops}


@dataclass(frozen=True)
class HistoryNode:
    """The historical half of Item XP (paper 2.1.1): the anchor product type's associated GM product
    types join the candidates. One the model also recommended is marked `both`; the others enter as
    recommendations of their own (`historical`), matched, judged and scored like the rest."""

    history: HistoricalSource
    n: int = 10

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        anchor = anchor_of(state)
        candidates = records(state, "candidates", Rec)
        by_pt = {r.product_type: i for i, r in enumerate(candidates) if r.product_type}
        out = list(candidates)
        for h in list(self.history.of(anchor.product_type))[: self.n]:
            evidence = (
                f"bought with {pt_label(anchor.product_type)} (adjusted lift {h.strength:.1f})"
                if "co-purchase" in h.source
                else "product-type name close to the anchor's"
            )
            if h.product_type in by_pt:
                i = by_pt[h.product_type]
                out[i] = out[i].model_copy(update={"source": "both"})
                continue
            text = pt_label(h.product_type)
            out.append(
                Rec(
                    rec_id=Rec.make_id("historical", text),
                    text=text,
                    explanation=evidence,
                    theme=None,
                    order=len(out),
                    product_type=h.product_type,
                    source="historical",
                )
            )
        return {"candidates": out}


class Matcher(Protocol):
    """What the graph needs from the semantic matcher (see `retrieval.matcher`)."""

    def match_recommendations(self, texts: Sequence[str], k: int, expand: int) -> list[list[Match]]:
        """Per text, up to k catalog GM items plus `expand` similar items per matched PT.
        Returned `Match` objects carry rec_id="" (the node fills it in)."""
        ...

    def match_product_types(self, texts: Sequence[str], product_types: Sequence[str], k: int) -> list[list[Match]]:
        """Per (text, catalog product type), that type's k most purchased items."""
        ...


@dataclass(frozen=True)
class MatchNode:
    """Catalog items per recommendation: exact for those naming a product type, semantic for free text."""

    matcher: Matcher
    k: int = 3
    expand: int = 2

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        recs = records(state, "candidates", Rec)
        exact = [r for r in recs if r.product_type]
        free = [r for r in recs if not r.product_type]
        found: dict[str, list[Match]] = {}
        if exact:
            by_type = self.matcher.match_product_types(
                [r.text for r in exact], [str(r.product_type) for r in exact], self.k
            )
            found.update(zip((r.rec_id for r in exact), by_type))
        if free:
            found.update(
                zip(
                    (r.rec_id for r in free),
                    self.matcher.match_recommendations([r.text for r in free], self.k, self.expand),
                )
            )
        matches: list[Match] = []
        drops: list[Drop] = []
        for rec in recs:
            hits = found.get(rec.rec_id, [])
            if not hits:
                drops.append(Drop(stage="match", reason="no catalog match", text=rec.text, theme=rec.theme))
            matches += [h.model_copy(update={"rec_id": rec.rec_id}) for h in hits]
        return {"matches": matches, "dropped": drops}


def _merged_source(a: Source, b: Source) -> Source:
    return a if a == b else "both"


@dataclass(frozen=True)
class CombineNode:
    """Combined = CE x LLM per matched item, its band; best score per item kept.

    Poor items from the model are removed (the paper's filter); historical items stay whatever
    their band (the baskets are their evidence), so Item XP is the union of both lists."""

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        anchor = anchor_of(state)
        anchor_pt = pt_label(anchor.product_type, anchor.text)
        recs = {r.rec_id: r for r in records(state, "candidates", Rec)}
        judge, ce = state.get("judge_scores", {}), state.get("ce_scores", {})
        best: dict[int, ScoredItem] = {}
        drops: list[Drop] = []
        for m in records(state, "matches", Match):
            rec = recs[m.rec_id]
            verdict = judge.get(triplet_key(anchor_pt, rec.text, m.product_type))
            if verdict is None:
                drops.append(
                    Drop(
                        stage="combine",
                        reason="no judge score",
                        text=rec.text,
                        theme=rec.theme,
                        detail=f"item {m.item_id}",
                    )
                )
                continue
            llm_score, reasoning = verdict
            ce_score = ce[pair_key(rec.text, m.item_text)]
            combined = combined_score(ce_score, llm_score)
            quality = band(combined)
            if quality is Band.POOR and rec.source == "llm":
                drops.append(
                    Drop(
                        stage="combine",
                        reason="poor band",
                        text=rec.text,
                        theme=rec.theme,
                        detail=f"item {m.item_id}: {ce_score:.2f} x {llm_score:.2f} = {combined:.2f}",
                    )
                )
                continue
            item = ScoredItem(
                rec_id=rec.rec_id,
                theme=rec.theme,
                recommendation=rec.text,
                explanation=rec.explanation,
                evaluator_score=rec.evaluator_score,
                item_id=m.item_id,
                item_text=m.item_text,
                product_type=m.product_type,
                similarity=m.similarity,
                expanded=m.expanded,
                ce=round(ce_score, 4),
                llm=llm_score,
                combined=round(combined, 4),
                band=quality.value,
                judge_reasoning=reasoning,
                source=rec.source,
            )
            previous = best.get(m.item_id)
            if previous is not None:
                source = _merged_source(previous.source, item.source)
                item = item if item.combined > previous.combined else previous
                item = item.model_copy(update={"source": source})
            best[m.item_id] = item
        results = sorted(best.values(), key=lambda r: (-r.combined, -r.similarity, r.item_id))
        return {"results": results, "dropped": drops}
