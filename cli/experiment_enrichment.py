"""`xp experiments profile-categories` (the LLM pass) and `xp experiments run enrichment` (experiment 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xpollinate.cli.common import emit_json, err, metrics_table, out, stage_bars

COLUMNS = ["Recall@10", "Recall@20", "NDCG@10", "Hit@10"]


def profile(llm_spec: str | None, per_call: int, limit: int | None) -> None:
    """Describe and label every product category (cached, resumable) and publish the table."""
    from xpollinate.catalog.store import DataStore
    from xpollinate.llm import get_llm
    from xpollinate.storefront.category_profiles import profile_categories

    items = DataStore.open().items()
    model = get_llm(llm_spec)
    with stage_bars() as progress:
        run = profile_categories(items, model, per_call=per_call, limit=limit, progress=progress)
    t = run.table
    ok = int((t["status"] == "ok").sum())
    out.print(
        f"profiled {ok}/{len(t)} categories with {model.spec} in {run.calls} calls ({run.failures} failed calls, "
        f"{int((t['status'] == 'missing').sum())} categories skipped by the model), {run.seconds:.0f} s"
    )
    for _, row in t.head(8).iterrows():
        out.print(f"  {row['category']}: {row['description']} [{', '.join(row['occasions'])}]", markup=False)
    usage = model.usage.summary()["total"]
    out.print(f"LLM: {usage['calls']} calls, {usage['cache_hits']} cache hits, {usage['output_tokens']} output tokens")
    out.print(f"saved {run.path}")


def variant_rows(results: list[Any]) -> list[dict[str, Any]]:
    """One row per variant: validation loss and next-basket metrics (4 decimals), seconds."""
    return [
        {
            "variant": r.label,
            "validation loss": round(r.valid_loss, 4),
            "last training loss": round(r.train_losses[-1], 4),
            **{c: round(r.metrics[c], 4) for c in ("Recall@5", "Recall@10", "Recall@20", "NDCG@10", "Hit@10")},
            "distinct texts": r.distinct_texts,
            "train + eval s": round(r.seconds),
        }
        for r in results
    ]


def setup_text(s: dict[str, Any]) -> str:
    """The protocol shared with experiment 5, in words."""
    return (
        f"Data build {s['data_build']}. Each variant: the project's two-tower model ({s['two_tower']['epochs']} "
        f"epoch(s), dim {s['two_tower']['dim']}, seed {s['two_tower']['seed']}, the extensions of the model in use "
        f"except the tags input, which only a variant that adds multi-hot rows switches on) trained on weeks {s['training_weeks']} ({s['training_baskets']:,} "
        f"baskets, {s['items']:,} catalog items) - the same protocol as experiment 5 (dual-head page). Validation "
        f"loss: InfoNCE with the popularity prior, in-batch and sampled negatives, one positive per basket (fixed "
        f"seed), over the {s['validation_baskets']:,} baskets of weeks {s['validation_weeks']} (lower is better). "
        f"Recall@K: share of the items of a household's next basket (its first basket from week "
        f"{s['validation_weeks'].split('-')[0]} on) among the model's top K over the full catalog, averaged over "
        f"{s['next_basket_queries']:,} households; NDCG@10: the same top 10 discounted by rank; Hit@10: share of "
        "households with at least one basket item in the top 10."
    )


def run(epochs: int, threads: int, results: Path | None, json_out: Path | None) -> None:
    """Run experiment 1, print its tables and write its page."""
    import pandas as pd

    from xpollinate.catalog.store import DataStore
    from xpollinate.reports import Report, git_commit, write_page
    from xpollinate.storefront.category_profiles import load_profiles
    from xpollinate.storefront.enrichment import run_enrichment

    load_profiles()  # before anything slow: the LLM pass must have run
    commit = git_commit() if results is not None else None
    with stage_bars(transient=True) as progress:
        run_ = run_enrichment(DataStore.open(), epochs=epochs, progress=progress, threads=threads)
    rows = variant_rows(run_.results)
    q = run_.quality
    quality = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in q.items()}
    payload = {"variants": rows, "description_quality": quality, "examples": run_.examples, "settings": run_.settings}
    if not emit_json(json_out, payload):
        out.print(
            metrics_table(
                "template text vs + LLM description", "variant", {r.label: r.metrics for r in run_.results}, COLUMNS
            )
        )
        out.print(
            f"descriptions: {q['valid']}/{q['categories']} valid, {q['mean_words']:.1f} words on average "
            f"(template {q['template_mean_words']:.1f}), vocabulary {q['vocabulary']}, "
            f"hierarchy overlap {q['hierarchy_overlap']:.3f}, distinct-word ratio {q['distinct_word_ratio']:.3f}"
        )
    if results is None:
        return
    s = run_.settings
    base, enr = run_.results
    verdict = (
        f"With the descriptions: Recall@10 {enr.metrics['Recall@10']:.4f} vs {base.metrics['Recall@10']:.4f} "
        f"({enr.metrics['Recall@10'] - base.metrics['Recall@10']:+.4f}), Recall@20 {enr.metrics['Recall@20']:.4f} vs "
        f"{base.metrics['Recall@20']:.4f} ({enr.metrics['Recall@20'] - base.metrics['Recall@20']:+.4f}), NDCG@10 "
        f"{enr.metrics['NDCG@10']:.4f} vs {base.metrics['NDCG@10']:.4f} "
        f"({enr.metrics['NDCG@10'] - base.metrics['NDCG@10']:+.4f}); validation loss {enr.valid_loss - base.valid_loss:+.4f}. "
        "One training seed per variant and no seed spread measured here, so differences of a few thousandths may be noise."
    )
    text = (
        f"{setup_text(s)} Item content text: the template (product type, category, department; "
        f"{base.distinct_texts:,} distinct texts) vs the template followed by the item's category description "
        f"({s['items_enriched']:,} items enriched, {enr.distinct_texts:,} distinct texts), each embedded by MiniLM "
        f"(all-MiniLM-L6-v2), everything else equal.\n\n{verdict}"
    )
    qrows = pd.DataFrame(
        [
            {
                "metric": "categories with a valid description (ok answer, 3+ words)",
                "value": f"{q['valid']} of {q['categories']} ({q['valid_share']:.1%})",
            },
            {
                "metric": "answer status per category",
                "value": ", ".join(f"{k} {v}" for k, v in q["status_counts"].items()),
            },
            {
                "metric": "words per description, mean (median)",
                "value": f"{q['mean_words']:.1f} ({q['median_words']:.0f})",
            },
            {
                "metric": "words of the category's template (name + department), mean",
                "value": f"{q['template_mean_words']:.1f}",
            },
            {"metric": "distinct-word ratio within a description, mean", "value": f"{q['distinct_word_ratio']:.3f}"},
            {"metric": "vocabulary (distinct words over all descriptions)", "value": str(q["vocabulary"])},
            {
                "metric": "share of content words from the category's own hierarchy (name, department, product types), mean",
                "value": f"{q['hierarchy_overlap']:.3f}",
            },
            {
                "metric": "share of the category-name words the description mentions, mean",
                "value": f"{q['category_name_recall']:.3f}",
            },
        ]
    )
    qtext = (
        f"Descriptions from {s['llm']} (prompt category_profile@v1, {s['prompt_sha256'][:12]}; several categories "
        f"per call, the same answer also gives the occasions of experiment 4), table {s['profiles']}. LLM seconds "
        f"for the whole pass: {s['llm_seconds']:.0f} s on 2 shared cores, one thread (the experiment itself reads "
        "the published table and makes no LLM call). Content words: 3+ letters, not a stopword."
    )
    report = Report(
        "Experiment 1: item enrichment (LLM category descriptions -> MiniLM -> two-tower retrieval)",
        [
            ("Next-basket retrieval", text, pd.DataFrame(rows)),
            ("Description quality (model-free)", qtext, qrows),
            ("Examples (most purchased categories)", "", pd.DataFrame(run_.examples)),
        ],
        headline=payload,
    )
    err.print(f"wrote {write_page(report, results, 'experiment-enrichment', commit=commit)}")
