"""One household's category list, as `xp groclm recommend` and `GET /v1/households/{id}/categories` give it.

The history is every basket the household made (as of the data's last day). Which model answers:

- the fine-tuned GroCLM (the latest adapter, trie-constrained) when one is loaded;
- otherwise the best baseline on next-basket F1@10, personal top frequency (its page: ahead of TIFU-KNN);
- a household in the data with no categorised basket gets the popularity list, with the reason.

Tasks: `next` (any category, the list filled by popularity when the history runs short) and `restock` (only
categories the household bought before: its own trie, the paper's production set-up; the list may be shorter
than k). An unknown household is an `UnknownHousehold` error naming the id; k is checked against 1-`MAX_K`.

With `items` > 0 each listed category also gets the two-tower model's best items for the household inside it
(`category_items`), loaded on the first such request; without a two-tower model the answer says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from xpollinate.errors import XPError
from xpollinate.groclm.baselines import popularity
from xpollinate.groclm.baskets import CategoryBaskets
from xpollinate.groclm.category_items import MAX_ITEMS, CategoryItems, open_category_items
from xpollinate.groclm.lm import LMRanker
from xpollinate.groclm.rebuy import household_state

Task = Literal["next", "restock"]
TASKS: tuple[Task, ...] = ("next", "restock")
MAX_K = 50
FALLBACK = "top_frequency"


class UnknownHousehold(XPError):
    """The household id is not in the data."""


@dataclass
class CategoryService:
    """The data's baskets, popularity and, when given, the fine-tuned model."""

    cb: CategoryBaskets
    known: frozenset[int]  # every household of the store, baskets or not
    model: Any | None = None  # a backbone with the adapter merged in (`adapter.TunedModel`), or None
    model_reason: str | None = None  # why there is no model
    label: str = "groclm"  # the model's name: groclm (fine-tuned), lm (the untuned backbone, AS1)
    home: Any | None = None  # the run directory (None: $XP_HOME)
    build_id: str = ""  # the data build the adapters are looked up for
    store: Any | None = None  # the data store, for the two-tower items (None: no items)
    _spans: dict[int, tuple[int, int]] = field(init=False)
    _pop: np.ndarray = field(init=False)
    _rankers: dict[bool, LMRanker] = field(init=False, default_factory=dict)
    _items: tuple[CategoryItems | None, str | None] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._spans = self.cb.households()
        self._pop = popularity(self.cb, int(self.cb.week.max()) if len(self.cb.week) else 0)

    @property
    def source(self) -> str:
        if self.model is None:
            return FALLBACK
        return "groclm" if self.label == "groclm" else "lm_trie"

    def _ranker(self, restock: bool) -> LMRanker:
        if restock not in self._rankers:
            assert self.model is not None
            self._rankers[restock] = LMRanker(
                self.model.backbone,
                self.cb.names,
                self._pop,
                restock=restock,
                batch_size=1,
                max_prompt_tokens=self.model.max_prompt_tokens,
                label=self.label,
            )
        return self._rankers[restock]

    def _popular(self, k: int) -> list[int]:
        return [int(c) for c in np.lexsort((np.arange(len(self._pop)), -self._pop))[:k]]

    def check(self, household: int) -> None:
        """Raise `UnknownHousehold` unless the household is in the data (with or without baskets)."""
        if household not in self._spans and household not in self.known:
            ids = sorted(self.known | set(self._spans))
            raise UnknownHousehold(
                f"household {household} is not in the data ({len(ids)} households, ids {ids[0]}-{ids[-1]})"
            )

    def category_items(self) -> tuple[CategoryItems | None, str | None]:
        """The two-tower items per category (loaded once), or (None, why there are none)."""
        if self._items is None:
            if self.store is None:
                self._items = (None, "no two-tower items: the service was opened without its data store")
            else:
                self._items = open_category_items(self.store, self.home)
        return self._items

    def recommend(self, household: int, task: Task = "next", k: int = 10, items: int = 0) -> dict[str, Any]:
        """{household, task, k, source, reason, categories, generated, seconds}, and with `items` > 0 the
        two-tower's `items` per category (`items_source`) or `items_reason`."""
        if task not in TASKS:
            raise XPError(f"task {task!r}: choose one of {', '.join(TASKS)}")
        if not 1 <= k <= MAX_K:
            raise XPError(f"k {k}: choose 1 to {MAX_K}")
        if not 0 <= items <= MAX_ITEMS:
            raise XPError(f"items {items}: choose 0 to {MAX_ITEMS} per category")
        self.check(household)
        started = time.perf_counter()
        body: dict[str, Any] = {"household": household, "task": task, "k": k}
        if household not in self._spans:
            cats = [] if task == "restock" else self._popular(k)
            why = "no history: the household has no basket with a categorised item"
            body |= {"source": "popularity", "reason": why, "categories": [self.cb.names[c] for c in cats]}
            body |= {"generated": 0}
            return self._with_items(body, household, items, started)
        start, end = self._spans[household]
        counts, since = household_state(self.cb, start, end, int(self.cb.day.max()))
        restock = task == "restock"
        reason: str | None = None
        if self.model is not None:
            recs, _ = self._ranker(restock).recommend_many([(counts, since, end - start, None)], k, beyond=not restock)
            rec = recs[0]
            cats, generated = rec.categories, len(rec.generated.names) if rec.generated else 0
        else:
            recency = np.where(np.isnan(since), 0.0, 1.0 / (2.0 + np.nan_to_num(since)))
            scores = counts + recency
            order = np.lexsort((np.arange(len(scores)), -self._pop, -scores))
            cats = [int(c) for c in order if not restock or counts[c] > 0][:k]
            generated, reason = 0, self.model_reason
        body |= {
            "source": self.source,
            "reason": reason,
            "categories": [self.cb.names[c] for c in cats],
            "generated": generated,
            "history_baskets": end - start,
        }
        return self._with_items(body, household, items, started)

    def _with_items(self, body: dict[str, Any], household: int, items: int, started: float) -> dict[str, Any]:
        if items:
            model, why = self.category_items()
            if model is None:
                body["items_reason"] = why
            else:
                per, path = model.for_categories(household, body["categories"], items)
                body |= {"items": per, "items_source": f"two-tower {model.model}: {path}"}
        body["seconds"] = round(time.perf_counter() - started, 3)
        return body


def open_service(home: Any | None = None, adapter: Any | None = None, use_model: bool = True) -> CategoryService:
    """The service over the data store under `home`, with the model `attach_model` finds when `use_model`."""
    from xpollinate.catalog.store import DataStore

    store = DataStore.open(home)
    cb = CategoryBaskets.from_store(store)
    known = frozenset(int(h) for h in store.households()["household_id"].tolist())
    service = CategoryService(cb, known, home=home, build_id=store.build_id, store=store)
    if not use_model:
        service.model_reason = "the language model is switched off"
        return service
    attach_model(service, adapter)
    return service


def attach_model(service: CategoryService, adapter: Any | None = None, threads: int = 1) -> None:
    """Load the adapter at `adapter` (a folder), or the latest trained on this data build, into the service;
    without one, the service keeps the baseline and says why (`model_reason`). A category vocabulary changed
    since training is an error (`adapter.VocabularyChanged`). torch gets `threads` intra-op threads: a
    service thread decoding with torch's default on shared cores was found ~8x slower than one thread."""
    import torch

    from xpollinate.groclm.adapter import latest_adapter, load_tuned, resolve_adapter
    from xpollinate.settings import run_home

    torch.set_num_threads(threads)

    folder = adapter if adapter is not None else latest_adapter(service.home or run_home(), service.build_id)
    if folder is None:
        service.model_reason = "no GroCLM adapter trained on this data (xp groclm train)"
        return
    service.model = load_tuned(resolve_adapter(folder, folder), service.cb.names)
    service.model_reason = None
