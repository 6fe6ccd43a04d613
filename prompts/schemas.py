"""Typed outputs of the XP prompts: the pydantic models that agents parse LLM answers into.

Each model is also the JSON schema the backend constrains decoding with, so field order
matters: evaluators write their `reasoning` before the scores (a rubric with the reason
first judges far better on small models). Scores are integers 0-10 declared as an enum
(small models respect an enum better than min/max); the weighted overall score is
computed here from the per-dimension scores, never taken from the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field, computed_field, create_model, model_validator

Score = Literal[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
SCORE_SCALE = 10
THEMES_PER_ANCHOR = 5
RECS_PER_CONTEXT = 10
EVALUATOR_DROP_BELOW = 0.4  # the paper drops recommendations the contextual evaluator scores below 0.4

# Length bounds are part of the schema the decoder is constrained by: they make a small
# model close its strings within the token budget instead of looping until cut off.
REASONING_MAX_CHARS = 500
RecName = Annotated[str, Field(min_length=1, max_length=80)]
RecExplanation = Annotated[str, Field(min_length=1, max_length=300)]


def weighted_score(scores: Mapping[str, int], weights: Mapping[str, float], scale: int = SCORE_SCALE) -> float:
    """Weighted mean of integer scores on 0..scale, as a value in [0, 1] (the paper's scale)."""
    if set(scores) != set(weights):
        raise ValueError(f"scores {sorted(scores)} do not match weights {sorted(weights)}")
    total = sum(weights.values())
    return round(sum(scores[k] * w for k, w in weights.items()) / (scale * total), 4)


class YesProbability(BaseModel):
    """A yes/no question answered by the model's first-token probabilities, not by generated text.

    A small model's generated scores collapse (the 1.5B model rates nearly every pair 8-10),
    while its probability of answering "yes" still ranks pairs; `mass` is the share of the
    first token's probability that went to yes/no tokens (low mass: the model wanted to say
    something else). Prompts whose output model is this one are asked through
    `LLM.structured` like any other, with one generated token and its alternatives."""

    p_yes: float = Field(ge=0.0, le=1.0)
    mass: float = Field(ge=0.0, le=1.0)

    @property
    def score(self) -> float:
        return self.p_yes

    @property
    def reasoning(self) -> str:
        return f"P(yes) = {self.p_yes:.3f}"


class YesProbabilities(BaseModel):
    """Several yes/no questions in one call (a numbered list in the prompt, variable `n` their count): the
    answer is a JSON list of `n` "yes"/"no" (`yes_no_schema`), and each question's P(yes) is read at its
    answer token, as `YesProbability` reads the first one."""

    answers: list[YesProbability] = Field(min_length=1, max_length=100)


def yes_no_schema(n: int) -> dict[str, object]:
    """The JSON schema of `n` yes/no answers in order (what the decoder is constrained to)."""
    if n < 1:
        raise ValueError(f"a yes/no list needs at least one question, got {n}")
    items = {"type": "string", "enum": ["yes", "no"]}
    answers = {"type": "array", "items": items, "minItems": n, "maxItems": n}
    return {"type": "object", "properties": {"answers": answers}, "required": ["answers"]}


class Theme(BaseModel):
    context: str = Field(min_length=1, max_length=80, description="short name of the usage context")
    explanation: str = Field(min_length=1, max_length=200, description="brief explanation (5-6 words)")


class Themes(BaseModel):
    """Theme generator (A.2): the 5 most popular usage contexts of the anchor."""

    themes: list[Theme] = Field(min_length=THEMES_PER_ANCHOR, max_length=THEMES_PER_ANCHOR)

    def pairs(self) -> list[tuple[str, str]]:
        """(context, explanation) pairs in the model's order."""
        return [(t.context, t.explanation) for t in self.themes]


class ThemeNames(BaseModel):
    """Lean theme generator: the 5 usage contexts as short names only (a few generated tokens each)."""

    themes: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=THEMES_PER_ANCHOR, max_length=THEMES_PER_ANCHOR
    )

    def pairs(self) -> list[tuple[str, str]]:
        return [(t, "") for t in self.themes]


class Picks(BaseModel):
    """Lean recommendation agent: product types for one usage context, names only.

    This free-text form is the `pick_free` prompt's; the grounded form (`picks_model`) is the
    same object whose names are an enum over the anchor's shortlist of catalog product types,
    so constrained decoding can emit nothing else."""

    picks: list[RecName] = Field(min_length=1, max_length=20)

    def pairs(self) -> list[tuple[str, str]]:
        return [(p, "") for p in self.picks]


M = TypeVar("M", bound=BaseModel)


def enum_list_model(base: type[M], field: str, names: Sequence[str], max_items: int, what: str) -> type[M]:
    """`base` with its list `field` restricted to `names` (a JSON-schema enum the decoder is constrained by)
    and 1 to `max_items` entries; `what` names the answer in the error for an empty `names`.

    llama.cpp's grammar ignores `uniqueItems`, so repeats are possible and removed afterwards."""
    if not names:
        raise ValueError(f"{what} needs at least one allowed name")
    allowed = Literal[tuple(dict.fromkeys(names))]  # type: ignore[valid-type]
    return create_model(  # type: ignore[call-overload, no-any-return]
        base.__name__,
        __base__=base,
        **{field: (list[allowed], Field(min_length=1, max_length=max_items))},  # type: ignore[valid-type]
    )


def picks_model(names: Sequence[str], max_picks: int) -> type[Picks]:
    """`Picks` whose items must be one of `names`."""
    return enum_list_model(Picks, "picks", names, max_picks, "a grounded answer")


class ContextRecommendations(BaseModel):
    context: str = Field(min_length=1, max_length=120)
    recs: list[RecName] = Field(min_length=RECS_PER_CONTEXT, max_length=RECS_PER_CONTEXT)
    explanations: list[RecExplanation] = Field(min_length=RECS_PER_CONTEXT, max_length=RECS_PER_CONTEXT)

    def pairs(self) -> list[tuple[str, str]]:
        """(recommendation, explanation) pairs in the model's order."""
        return list(zip(self.recs, self.explanations))


class ThemeRecommendations(BaseModel):
    """Theme recommendation generator (A.3): 10 non-grocery recommendations per context."""

    contexts: list[ContextRecommendations] = Field(min_length=1, max_length=THEMES_PER_ANCHOR)


class NaiveRecommendations(BaseModel):
    """Naive generator (A.1): top-n recommendations with one explanation each (the paper's keys)."""

    recs: list[RecName] = Field(min_length=1, max_length=50)
    explanation: list[RecExplanation] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _same_length(self) -> NaiveRecommendations:
        if len(self.recs) != len(self.explanation):
            raise ValueError(
                f"recs has {len(self.recs)} items but explanation has {len(self.explanation)}; give one explanation per rec"
            )
        return self

    def pairs(self) -> list[tuple[str, str]]:
        return list(zip(self.recs, self.explanation))


class _WeightedRubric(BaseModel):
    """A rubric answer: reasoning, then integer dimension scores; `score` is their weighted mean."""

    WEIGHTS: ClassVar[dict[str, float]] = {}
    reasoning: str = Field(min_length=1, max_length=REASONING_MAX_CHARS)  # first: the reason before the scores

    @computed_field  # type: ignore[prop-decorator]
    @property
    def score(self) -> float:
        """Overall score in [0, 1], computed from the dimension scores with the paper's weights."""
        return weighted_score({k: getattr(self, k) for k in self.WEIGHTS}, self.WEIGHTS)


class ContextualEvaluation(_WeightedRubric):
    """Contextual evaluator (A.4): discovery 40%, contextual relevance 30%, explanation 20%, purchase 10%."""

    WEIGHTS: ClassVar[dict[str, float]] = {
        "cross_category_discovery": 0.40,
        "contextual_relevance": 0.30,
        "explanation_quality": 0.20,
        "purchase_likelihood": 0.10,
    }
    cross_category_discovery: Score
    contextual_relevance: Score
    explanation_quality: Score
    purchase_likelihood: Score

    @property
    def keep(self) -> bool:
        """False when the paper's pipeline would drop this recommendation (score < 0.4)."""
        return self.score >= EVALUATOR_DROP_BELOW


class NumberedEvaluation(ContextualEvaluation):
    """One entry of a batched contextual evaluation; `number` refers to the numbered list in the prompt."""

    number: int = Field(ge=1, le=100)


class BatchContextualEvaluation(BaseModel):
    """Contextual evaluator over one context's recommendations in a single call."""

    evaluations: list[NumberedEvaluation] = Field(min_length=1, max_length=100)


class JudgeEvaluation(_WeightedRubric):
    """LLM-as-judge (A.5): discovery 25%, relevance & coherence 35%, practical utility 25%, matching 15%."""

    WEIGHTS: ClassVar[dict[str, float]] = {
        "cross_category_discovery": 0.25,
        "relevance_coherence": 0.35,
        "practical_utility": 0.25,
        "matching_accuracy": 0.15,
    }
    cross_category_discovery: Score
    relevance_coherence: Score
    practical_utility: Score
    matching_accuracy: Score


class MatchRating(BaseModel):
    """Catalog-matching teacher (`match@v1`): how well an item fulfils a recommendation, 0-10."""

    reasoning: str = Field(min_length=1, max_length=REASONING_MAX_CHARS)
    match: Score

    @property
    def label(self) -> float:
        return self.match / SCORE_SCALE


# The controlled vocabulary of `attribute_tags@v1` (STARS-style LLM-derived attribute tags). The
# schema declares it as an enum, so constrained decoding can only emit these strings; append
# new tags at the end and bump the prompt version (the two-tower tag table is keyed by both).
ATTRIBUTE_TAGS: tuple[str, ...] = (
    "food",
    "beverage",
    "alcohol",
    "fresh",
    "frozen",
    "shelf-stable",
    "snack",
    "sweet",
    "breakfast",
    "baking",
    "cooking ingredient",
    "dairy",
    "meat",
    "seafood",
    "produce",
    "bakery",
    "deli",
    "ready meal",
    "healthy",
    "organic",
    "kids",
    "baby",
    "pet",
    "household",
    "cleaning",
    "laundry",
    "paper goods",
    "disposable",
    "kitchen",
    "cookware",
    "personal care",
    "beauty",
    "hygiene",
    "health",
    "outdoor",
    "grilling",
    "party",
    "seasonal",
    "holiday",
    "gift",
    "home decor",
    "garden",
    "hardware",
    "electronics",
    "office",
    "school",
    "toys",
    "apparel",
    "travel",
    "coffee and tea",
)
AttributeTag = Literal[ATTRIBUTE_TAGS]  # type: ignore[valid-type]


class CategoryTags(BaseModel):
    """Tags of one numbered category in an `attribute_tags` call."""

    number: int = Field(ge=1, le=100)
    tags: list[AttributeTag] = Field(min_length=1, max_length=3)


class CategoryTagging(BaseModel):
    """Attribute tagger (`attribute_tags@v1`): tags for each numbered product category of one call."""

    categories: list[CategoryTags] = Field(min_length=1, max_length=100)


OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (
        Themes,
        ThemeRecommendations,
        NaiveRecommendations,
        ContextualEvaluation,
        BatchContextualEvaluation,
        JudgeEvaluation,
        MatchRating,
        CategoryTagging,
        YesProbability,
        YesProbabilities,
        ThemeNames,
        Picks,
    )
}
