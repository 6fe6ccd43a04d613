"""What the student reads and writes: its two prompts and the compact answer formats, and their parsing.

A 135M model writes short lines more reliably than JSON, so the student's answers are line formats:

- themes: one placement per line, `Title | why`, bounded as `PlacementIdea` bounds them (title 1-40
  characters; a why over 80 characters is cut there, as the teacher's schema-bounded decoding cuts it, and
  counted); an answer that yields no valid line is a failure, and a line that does not parse is counted
  (constraint validity: every line parsed, no repeat, k of them);
- keywords: one shortlisted product type per line, in lower case (as `groclm.decode` spells names), so the
  trie over the placement's shortlist constrains them token by token.

The teacher's answers are rewritten into these formats for training (`themes_answer`, `keywords_answer`), so
what the student learns is what its decoding and parsing accept. Pure text: no torch here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from xpollinate.storefront.calls import context_text
from xpollinate.storefront.schemas import WHY_MAX_CHARS, PlacementIdea

FORMAT = "student-v1"  # bump when a prompt or answer format changes (recorded in the adapter's config)
SYSTEM = "You plan the themed sections of a grocery shopper's personal storefront page."
THEMES_TASK = (
    "Propose {k} themed placements for this household's page. Write one per line as: Title | why "
    "(a short title, then a few words on why this household gets it)."
)
KEYWORDS_TASK = "Pick up to {n} product types from the list that fill this placement, one per line, best first."
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def chat(tokenizer: Any, user: str) -> str:
    """The chat-formatted prompt, ending where the assistant's answer starts."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def themes_user(history: Sequence[str], context: str | None, k: int) -> str:
    return (
        "Recent purchases (product type (category): baskets holding it, last bought):\n"
        + "\n".join(history)
        + f"\nShopping context: {context_text(context)}\n"
        + THEMES_TASK.format(k=k)
    )


def keywords_user(title: str, why: str, shortlist: Sequence[str], context: str | None, n: int) -> str:
    return (
        f"Placement: {title}\nWhy: {why}\nShopping context: {context_text(context)}\nProduct types:\n"
        + "\n".join(f"- {spell(name)}" for name in shortlist)
        + "\n"
        + KEYWORDS_TASK.format(n=n)
    )


def spell(name: str) -> str:
    """A product type as the student writes it (the trie decoder's spelling)."""
    from xpollinate.groclm.prompting import spell as groclm_spell

    return groclm_spell(name)


def themes_answer(ideas: Sequence[dict[str, str]]) -> str:
    """The teacher's placements as the student's lines (no trailing newline: the end of turn follows)."""
    return "\n".join(f"{_one_line(i['title'])} | {_one_line(i['why'])}" for i in ideas)


def _one_line(text: str) -> str:
    return " ".join(text.replace("|", "/").split())


@dataclass(frozen=True)
class ParsedThemes:
    ideas: list[PlacementIdea]  # valid, distinct titles, in order (at most k)
    lines: int  # non-empty lines answered
    bad_lines: int  # lines that are not `Title | why` within the bounds
    repeats: int  # lines repeating an earlier title
    clipped: int  # reasons cut to the 80-character bound
    failure: str | None  # set when no valid placement came back

    def valid(self, k: int) -> bool:
        """Constraint validity: every line parsed, no repeat, and exactly k placements."""
        return self.bad_lines == 0 and self.repeats == 0 and len(self.ideas) == k


def parse_themes(text: str, k: int) -> ParsedThemes:
    """The student's themes answer as page placements; what does not parse is counted, never guessed at."""
    ideas: list[PlacementIdea] = []
    seen: set[str] = set()
    lines = bad = repeats = clipped = 0
    for raw in text.split("\n"):
        line = _BULLET.sub("", raw).strip()
        if not line:
            continue
        lines += 1
        title, sep, why = line.partition("|")
        why = why.strip()
        if len(why) > WHY_MAX_CHARS:
            why, clipped = why[:WHY_MAX_CHARS].rstrip(), clipped + 1
        try:
            idea = PlacementIdea(title=title.strip(), why=why.strip())
        except ValidationError:
            bad += 1
            continue
        if not sep:
            bad += 1
            continue
        key = " ".join(idea.title.lower().split())
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        if len(ideas) < k:
            ideas.append(idea)
    failure = None if ideas else f"no 'Title | why' line in the student's answer ({lines} lines, {bad} unparsed)"
    return ParsedThemes(ideas, lines, bad, repeats, clipped, failure)
