"""`xp experiments run occasions`: experiment 4, LLM occasion labels as item features, and its results page."""

from __future__ import annotations

from pathlib import Path

from xpollinate.cli.common import emit_json, err, metrics_table, out, stage_bars
from xpollinate.cli.experiment_enrichment import COLUMNS, setup_text, variant_rows


def run(epochs: int, threads: int, results: Path | None, json_out: Path | None) -> None:
    """Run experiment 4, print its tables and write its page."""
    import pandas as pd

    from xpollinate.catalog.store import DataStore
    from xpollinate.reports import Report, git_commit, write_page
    from xpollinate.storefront.category_profiles import load_profiles
    from xpollinate.storefront.occasions import run_occasions

    load_profiles()  # before anything slow: the LLM pass must have run
    commit = git_commit() if results is not None else None
    with stage_bars(transient=True) as progress:
        run_ = run_occasions(DataStore.open(), epochs=epochs, progress=progress, threads=threads)
    rows = variant_rows(run_.results)
    st = run_.stats
    stats = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in st.items()}
    payload = {"variants": rows, "label_stats": stats, "examples": run_.examples, "settings": run_.settings}
    if not emit_json(json_out, payload):
        out.print(
            metrics_table(
                "occasion labels as item features", "variant", {r.label: r.metrics for r in run_.results}, COLUMNS
            )
        )
        out.print(
            f"labels: {st['labelled']}/{st['categories']} categories, {st['mean_labels']:.2f} each, "
            f"{st['occasions_used']} of {len(st['occasion_share'])} occasions used, entropy {st['entropy_bits']:.2f} "
            f"of {st['max_entropy_bits']:.2f} bits, {st['distinct_sets']} distinct sets"
        )
    if results is None:
        return
    s = run_.settings
    base, occ = run_.results[0], run_.results[1]
    verdict = (
        f"With the occasions: Recall@20 {occ.metrics['Recall@20']:.4f} vs {base.metrics['Recall@20']:.4f} "
        f"({occ.metrics['Recall@20'] - base.metrics['Recall@20']:+.4f}), Recall@10 {occ.metrics['Recall@10']:.4f} vs "
        f"{base.metrics['Recall@10']:.4f} ({occ.metrics['Recall@10'] - base.metrics['Recall@10']:+.4f}), NDCG@10 "
        f"{occ.metrics['NDCG@10']:.4f} vs {base.metrics['NDCG@10']:.4f} "
        f"({occ.metrics['NDCG@10'] - base.metrics['NDCG@10']:+.4f}); validation loss {occ.valid_loss - base.valid_loss:+.4f}. "
        "One training seed per variant and no seed spread measured here, so differences of a few thousandths may be noise."
    )
    tags_note = (
        f"Attribute tags: {s['attribute_tags']}."
        if s["attribute_tags"]
        else "Attribute tags (`attribute_tags@v1`) were not measured: no tag table is built in this run directory "
        "(building one also switches the tags extension on for every default two-tower model)."
    )
    text = (
        f"{setup_text(s)} Occasion features: each item's category's occasions as a multi-hot row "
        f"({len(s['occasion_vocabulary'])} occasions; {s['items_with_occasions']:,} items have at least one), read by "
        f"the item tower's tags path (a linear projection added to the item's input, trained with the rest); the "
        f"baseline is the same model without that input. {tags_note}\n\n{verdict}"
    )
    share = pd.DataFrame([{"occasion": k, "share of labels": v} for k, v in st["occasion_share"].items()])
    ltext = (
        f"Labels from {s['llm']} (prompt category_profile@v1: the same answer gives the description of experiment 1; "
        f"the occasions are a JSON-schema enum over the list below, 1-3 per category), table {s['profiles']}, LLM "
        f"seconds for the whole pass {s['llm_seconds']:.0f} s on 2 shared cores, one thread. "
        f"{st['labelled']} of {st['categories']} categories labelled, {st['mean_labels']:.2f} occasions each; "
        f"{st['occasions_used']} of {len(st['occasion_share'])} occasions used; label entropy {st['entropy_bits']:.2f} "
        f"bits of at most {st['max_entropy_bits']:.2f}; {st['distinct_sets']} distinct occasion sets, the most common "
        f"({', '.join(st['most_common_set']) or '-'}) given to {st['most_common_set_share']:.1%} of the labelled "
        "categories (the more categories share one set, the less the feature can tell items apart)."
    )
    report = Report(
        "Experiment 4: synthetic occasion labels as item features (LLM occasions -> multi-hot -> two-tower)",
        [
            ("Next-basket retrieval", text, pd.DataFrame(rows)),
            ("The labels", ltext, share),
            ("Examples (most purchased categories)", "", pd.DataFrame(run_.examples)),
        ],
        headline=payload,
    )
    err.print(f"wrote {write_page(report, results, 'experiment-occasions', commit=commit)}")
