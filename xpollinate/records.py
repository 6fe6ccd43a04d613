"""The item-XP records and the graphs' typed state: the one vocabulary that agents, judges,
retrieval, the graphs and the item-XP store share.

A leaf module (it imports nothing of the project), so no package depends on another only
to name a record. Records are pydantic models (they serialize into checkpoints, JSON output
and the item-XP store). List fields that parallel branches write to use `operator.add` as
their reducer, so branches append rather than overwrite.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired, TypeVar

from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic reads the graph's schemas from it on Python < 3.12

Stage = Literal[
    "context",
    "shortlist",
    "recommend",
    "naive",
    "merge",
    "evaluate",
    "history",
    "match",
    "judge",
    "cross_encode",
    "combine",
    "review",
]
Source = Literal["llm", "historical", "both"]  # where an Item-XP item came from: the model, the baskets, or both
EvaluatorMode = Literal["per_rec", "batched"]  # the paper's rubric evaluator: one call per recommendation, or per theme


def typed_label(name: str, category: str) -> str:
    """'Scoop Litter' + 'CAT LITTER' -> 'Scoop Litter (Cat Litter)'; abbreviated product-type names read
    far better to a small model with their category beside them."""
    category = " ".join(category.split()).title()
    return f"{name} ({category})" if category and category.lower() != name.lower() else name


class Anchor(BaseModel):
    """The grocery item the recommendations are for."""

    item_id: int | None = None
    text: str = Field(min_length=1, max_length=300)
    product_type: str = ""
    category: str = ""
    is_grocery: bool = True

    @property
    def prompt_text(self) -> str:
        """How the paper's prompts name the anchor: its readable text plus its product type."""
        return f"{self.text} (product type: {self.product_type})" if self.product_type else self.text

    @property
    def label(self) -> str:
        """The anchor's product type with its category, 'Dry Cat Food (Cat Food)': context for yes/no prompts."""
        return typed_label(self.name, self.category)

    @property
    def name(self) -> str:
        """How the lean prompts name the anchor: its product type in words ('Ground Coffee'), else its text
        up to the brand (brand and size only distract a small model)."""
        if self.product_type.strip():
            return " ".join(self.product_type.split()).title()
        return self.text.split(" - ", 1)[0]


class Theme(BaseModel):
    context: str
    explanation: str = ""


class Rec(BaseModel):
    """One recommendation (a GM item type in words) with its reason and, later, its evaluation."""

    rec_id: str
    text: str
    explanation: str = ""
    theme: str | None = None
    order: int = 0  # position in its agent's answer (branches finish in any order; merge sorts)
    evaluator_score: float | None = None
    evaluator_reasoning: str | None = None
    product_type: str | None = None  # the catalog product type it names (grounded picks, historical PTs), if any
    label: str = ""  # that product type's name with its category, for yes/no questions
    source: Source = "llm"

    @staticmethod
    def make_id(theme: str | None, text: str) -> str:
        return hashlib.sha256(f"{theme or ''}\x1f{text.lower()}".encode()).hexdigest()[:12]


class Drop(BaseModel):
    """A recommendation removed on the way, and why (every removal is counted, none is silent)."""

    stage: Stage
    reason: str
    text: str
    theme: str | None = None
    detail: str = ""


class FailureRecord(BaseModel):
    """A model call that produced no valid answer; the run goes on without it."""

    stage: Stage
    prompt: str
    kind: str
    message: str
    attempts: int
    subject: str = ""


class Match(BaseModel):
    """A catalog GM item matched to a recommendation (directly or by similar-item expansion)."""

    rec_id: str
    item_id: int
    item_text: str
    product_type: str
    similarity: float
    rank: int
    expanded: bool = False
    category: str = ""  # the item's catalog category (context for the lean judge: "Scoop Litter (Cat Litter)")


class ScoredItem(BaseModel):
    """A matched item with both judges' scores, the combined score and its band."""

    rec_id: str
    theme: str | None
    recommendation: str
    explanation: str
    evaluator_score: float | None
    item_id: int
    item_text: str
    product_type: str
    similarity: float
    expanded: bool
    ce: float
    llm: float
    combined: float
    band: str
    judge_reasoning: str = ""
    source: Source = "llm"


class CallRef(BaseModel):
    """Provenance of one kind of model call: which prompt version and which model."""

    prompt: str
    prompt_sha256: str
    llm: str


class ReviewDecision(BaseModel):
    """A reviewer's verdict on one item at the graph's review step."""

    item_id: int
    decision: Literal["approve", "reject"]
    error_source: str = ""  # a rejection's cause, as on review sheets: matching | expansion | llm (or unknown)


class ReviewRecord(BaseModel):
    """What the review step decided and where it wrote it: a filled review sheet `xp review import` reads."""

    sheet: str
    path: str
    decisions: list[ReviewDecision]


def _merge(left: dict, right: dict) -> dict:
    return {**left, **right}


class ItemXPState(TypedDict, total=False):
    """State of one anchor's run. Input: `anchor`. Output: `results` plus the audit fields."""

    anchor: Anchor
    themes: list[Theme]
    shortlist: list[str]  # catalog grounding: the display names a pick may take
    recs: Annotated[list[Rec], operator.add]
    copied: Annotated[list[str], operator.add]  # generated recommendations that repeat a prompt example
    n_distinct_recs: int  # distinct generated recommendations (after cross-theme dedup)
    out_of_catalog: list[str]  # of those, the ones that name no catalog GM product type
    candidates: list[Rec]  # after merge/dedup (and, in theme mode, the evaluator)
    matches: list[Match]
    judge_scores: dict[str, tuple[float, str]]  # triplet key -> (LLM score, reasoning)
    ce_scores: dict[str, float]  # pair key -> CE score
    results: list[ScoredItem]
    dropped: Annotated[list[Drop], operator.add]
    failures: Annotated[list[FailureRecord], operator.add]
    provenance: Annotated[dict[str, CallRef], _merge]
    scorer_id: str
    review: ReviewRecord  # the human review step's decisions (graphs built with review=True)


class ItemXPInput(TypedDict):
    """What a run takes (Studio's input form shows this, not the internal state keys): the anchor."""

    anchor: Anchor


class ThemeBranch(TypedDict):
    """What one `Send` to the recommendation agent carries."""

    anchor: Anchor
    theme: Theme
    shortlist: NotRequired[list[str]]


M = TypeVar("M", bound=BaseModel)


def anchor_of(state: Mapping[str, Any]) -> Anchor:
    """The state's anchor as a model (a server such as `langgraph dev` hands over plain JSON)."""
    return Anchor.model_validate(state["anchor"])


def records(state: Mapping[str, Any], key: str, model: type[M]) -> list[M]:
    """A list field of the state as models, whether it holds models or their JSON form."""
    return [model.model_validate(x) for x in state.get(key) or []]
