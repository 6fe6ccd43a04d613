"""Clean, deduplicate and validate recommendation texts from an LLM answer.

Small models number their items, wrap them in markdown, repeat themselves or
return empty strings; every removal becomes a `Drop` with its reason.
"""

from __future__ import annotations

import re

from xpollinate.records import Drop, Rec, Stage

MAX_REC_CHARS = 80
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*")
_MARKUP = re.compile(r"[*_`#]+")
_SPACES = re.compile(r"\s+")
# Texts of the prompts' output-format examples ("Item Name 3", "Context Name 1", "Explanation 2",
# "brief explanation (5-6 words)"): small models copy them verbatim instead of answering.
_PLACEHOLDER = re.compile(
    r"^(?:(?:usage )?context(?: name)?|item(?: name)?|item type|recommendation|explanation|brief explanation\b.*)"
    r"(?: ?\d+)?$",
    re.IGNORECASE,
)
PLACEHOLDER_REASON = "placeholder copied from the format example"


def clean(text: str) -> str:
    """'1. **Egg Poacher** ' -> 'Egg Poacher'."""
    text = _MARKUP.sub("", _NUMBERING.sub("", text or ""))
    return _SPACES.sub(" ", text).strip(" .;:-")


def is_placeholder(text: str) -> bool:
    """Whether a cleaned text is one of the prompts' format placeholders rather than an answer."""
    return bool(_PLACEHOLDER.match(text.strip()))


def explanation_text(raw: str) -> str:
    """A cleaned explanation; a copied placeholder counts as no explanation."""
    text = clean(raw)
    return "" if is_placeholder(text) else text


def key(text: str) -> str:
    """Identity of a recommendation for deduplication (case, spacing and plural 's' folded)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)


def normalize(
    pairs: list[tuple[str, str]], theme: str | None, stage: Stage, seen: set[str] | None = None
) -> tuple[list[Rec], list[Drop]]:
    """Recs from (text, explanation) pairs; `seen` carries keys across calls for cross-theme dedup."""
    seen = set() if seen is None else seen
    recs: list[Rec] = []
    drops: list[Drop] = []
    for raw, explanation in pairs:
        text = clean(raw)
        if not text:
            drops.append(Drop(stage=stage, reason="empty", text=raw or "", theme=theme))
            continue
        if is_placeholder(text):
            drops.append(Drop(stage=stage, reason=PLACEHOLDER_REASON, text=text, theme=theme))
            continue
        if len(text) > MAX_REC_CHARS:
            drops.append(
                Drop(stage=stage, reason="overlong", text=text[:200], theme=theme, detail=f"{len(text)} chars")
            )
            continue
        k = key(text)
        if k in seen:
            drops.append(Drop(stage=stage, reason="duplicate", text=text, theme=theme))
            continue
        seen.add(k)
        recs.append(
            Rec(
                rec_id=Rec.make_id(theme, text),
                text=text,
                explanation=explanation_text(explanation),
                theme=theme,
                order=len(recs),
            )
        )
    return recs, drops
