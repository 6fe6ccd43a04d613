"""How one anchor is processed: the call plan, grounding, prompt versions and sizes.

Two call plans:

- `paper`: the XP paper's per-call plan and prompts (Appendix A): themes with explanations,
  10 free-text recommendations per theme, the rubric evaluator (per recommendation, or
  batched per theme) and the rubric judge per distinct triplet;
- `lean` (the default): short prompts without examples, a few generated tokens per call,
  and yes/no probabilities instead of generated scores: themes as short names, picks per
  theme (grounded in the catalog by default), a P(yes) contextual evaluator and a P(yes)
  judge. `bench/` and `docs/results/` measure what it costs and how well it ranks.

A plan is a preset: every field it sets can still be given explicitly. Which agent does
what follows from the prompts' output models, so an A/B arm can swap any version.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xpollinate.prompts.schemas import EVALUATOR_DROP_BELOW
from xpollinate.records import EvaluatorMode

Plan = Literal["lean", "paper"]
Grounding = Literal["catalog", "free"]
PLANS: tuple[str, ...] = ("lean", "paper")
GROUNDINGS: tuple[str, ...] = ("catalog", "free")

PLAN_PROMPTS: dict[tuple[str, str], dict[str, str]] = {
    ("paper", "free"): {
        "theme": "theme@v2",
        "recommend": "theme_recs@v2",
        "naive": "naive@v1",
        "evaluator": "evaluator@v2",
        "evaluator_batch": "evaluator_batch@v1",
        "judge": "judge@v2",
    },
    ("lean", "catalog"): {
        "theme": "theme@v3",
        "recommend": "pick@v1",
        "naive": "pick@v1",
        "evaluator": "fit@v1",
        "evaluator_batch": "evaluator_batch@v1",
        "judge": "relevance@v1",
    },
    ("lean", "free"): {
        "theme": "theme@v3",
        "recommend": "pick_free@v1",
        "naive": "pick_free@v1",
        "evaluator": "fit@v1",
        "evaluator_batch": "evaluator_batch@v1",
        "judge": "relevance@v1",
    },
}
# Settings whose default depends on the plan (None in a config means "the plan's").
PLAN_DEFAULTS: dict[str, dict[str, Any]] = {
    "paper": {"drop_below": EVALUATOR_DROP_BELOW, "match_k": 3, "expand": 2},
    "lean": {"drop_below": 0.3, "match_k": 3, "expand": 0},
}


class PromptSet(BaseModel):
    """Prompt versions of one arm (an A/B comparison varies these); None: the plan's version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    theme: str | None = None
    recommend: str | None = None
    naive: str | None = None
    evaluator: str | None = None
    evaluator_batch: str | None = None
    judge: str | None = None


class ItemXPConfig(BaseModel):
    """How one anchor is processed. Validation fills what the plan decides, so the stored
    settings (and the run id hashed from them) always name every prompt version and size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plan: Plan = Field("lean", description="lean (short prompts, P(yes) scores) or paper (the paper's per-call plan)")
    grounding: Grounding | None = Field(
        None,
        description="catalog (answers constrained to catalog product types; lean "
        "default) or free (free text matched afterwards; the paper's mode)",
    )
    prompts: PromptSet = PromptSet()
    naive_n: int = Field(10, ge=1, le=50, description="recommendations asked of the naive generator")
    evaluate_naive: bool = Field(False, description="run the contextual evaluator in the naive graph too")
    drop_below: float | None = Field(None, ge=0.0, le=1.0, description="contextual evaluator threshold")
    evaluator_mode: EvaluatorMode = Field(
        "per_rec", description="rubric evaluator: per_rec (the paper) or batched (one call per theme)"
    )
    match_k: int | None = Field(None, ge=1, le=50, description="catalog items matched per recommendation")
    expand: int | None = Field(None, ge=0, le=20, description="similar items added per matched product type")
    workers: int = Field(4, ge=1, le=64, description="model calls in flight per node")
    picks: int = Field(4, ge=1, le=20, description="lean plan: product types picked per theme")
    shortlist_size: int = Field(40, ge=5, le=200, description="catalog grounding: product types offered per anchor")
    history_pts: int = Field(
        10, ge=0, le=50, description="historical GM product types merged into Item XP (0: LLM list only)"
    )
    review: bool = Field(
        False,
        exclude=True,  # how a run is supervised, not what it computes: left out of the settings a run id hashes
        description="pause before the results are stored for a person to approve or reject each item "
        "(a LangGraph interrupt: needs a checkpointer)",
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_from_plan(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        plan = data.get("plan", "lean")
        if plan not in PLANS:
            return data  # the field's own validation reports it
        grounding = data.get("grounding") or ("catalog" if plan == "lean" else "free")
        if (plan, grounding) not in PLAN_PROMPTS:
            raise ValueError(
                f"grounding {grounding!r} is not available with the {plan} plan; "
                f"the paper plan generates free text (use plan lean for catalog grounding)"
            )
        data["grounding"] = grounding
        given = data.get("prompts") or {}
        given = given.model_dump() if isinstance(given, PromptSet) else dict(given)
        data["prompts"] = {k: given.get(k) or v for k, v in PLAN_PROMPTS[(plan, grounding)].items()}
        for key, value in PLAN_DEFAULTS[plan].items():
            if data.get(key) is None:
                data[key] = value
        return data

    @property
    def grounded(self) -> bool:
        return self.grounding == "catalog"
