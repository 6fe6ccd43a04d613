"""The array pool and the array heuristic against straightforward reference computations.

The references below are plain-Python dict loops over (anchor, candidate, score) triples,
written from the definitions in `ranking.pool` and `ranking.scorer` (they are what the
code computed before it was vectorised). They run on random carts over a synthetic
catalog large enough to hit the 300 cap, with tied scores, candidates shared by several
anchors, cart items among the candidates, unknown ids and non-grocery cart items.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.ranking.conftest import ScriptedSource
from xpollinate.ranking.candidate_index import CandidateIndex
from xpollinate.ranking.catalog_view import CatalogView
from xpollinate.ranking.persona import N_DEMOGRAPHIC, N_PERSONA, PersonaTable
from xpollinate.ranking.pool import ArraySource, CandidatePool, PoolConfig, SeedDraws, build_pool, stratified_quotas
from xpollinate.ranking.scorer import HeuristicScorer

N_GROCERY, N_GM, N_PT = 60, 900, 40
GROCERY_IDS = np.arange(1, N_GROCERY + 1) * 10
GM_IDS = 100_000 + np.arange(N_GM) * 7
UNKNOWN = 999_999_999


def synthetic_catalog(rng: np.random.Generator) -> CatalogView:
    ids = np.concatenate([GROCERY_IDS, GM_IDS])
    order = np.argsort(ids)
    n = len(ids)
    pt = np.concatenate([rng.integers(0, 8, N_GROCERY), rng.integers(8, N_PT, N_GM)])[order]
    cats = np.array([f"cat{c % 12}" for c in pt], dtype=object)
    grocery = np.concatenate([np.ones(N_GROCERY, bool), np.zeros(N_GM, bool)])[order]
    return CatalogView(
        item_ids=ids[order].astype(np.int64),
        pt_code=pt.astype(np.int32),
        pt_names=tuple(f"PT{i}" for i in range(N_PT)),
        department=np.array(["D"] * n, dtype=object),
        category=cats,
        is_grocery=grocery,
        is_gm=~grocery,
        unit_price=np.ones(n),
        n_baskets=np.ones(n, np.int64),
        text=np.array([f"item {i}" for i in ids[order]], dtype=object),
    )


def synthetic_lists(rng: np.random.Generator) -> dict[int, list[tuple[int, float]]]:
    """30-45 candidates per grocery anchor, scores rounded so that ties happen; a few candidates outside the catalog."""
    lists = {}
    for anchor in GROCERY_IDS.tolist():
        n = int(rng.integers(30, 46))
        pool = np.concatenate([GM_IDS, GROCERY_IDS[:5], [UNKNOWN, UNKNOWN + 1]])
        items = rng.choice(pool, size=n, replace=False)
        scores = np.sort(np.round(rng.uniform(0, 3, n), 1))[::-1]
        lists[anchor] = list(zip(items.tolist(), scores.tolist()))
    return lists


def reference_pool(cart: list[int], lists: dict, catalog: CatalogView, config: PoolConfig) -> list[tuple]:
    """(item, best anchor, best score, PT name, all anchors), best first: the definition, in plain Python."""
    best: dict[int, list] = {}
    seen: set[int] = set()
    for anchor in cart:
        if anchor in seen:
            continue
        seen.add(anchor)
        row = catalog.row(anchor)
        if row < 0 or not catalog.is_grocery[row]:
            continue
        for item, score in lists.get(anchor, [])[: config.per_anchor]:
            if item in cart:
                continue
            if item not in best:
                best[item] = [score, anchor, [anchor]]
            else:
                best[item][2].append(anchor)
                if score > best[item][0]:
                    best[item][0], best[item][1] = score, anchor

    items = list(best)
    rows = dict(zip(items, catalog.rows(items).tolist()))
    pt = {i: int(catalog.pt_code[r]) if r >= 0 else -1 for i, r in rows.items()}
    if len(items) > config.max_pool:
        by_pt: dict[int, list[int]] = {}
        for i in items:
            by_pt.setdefault(pt[i], []).append(i)
        strata = sorted(by_pt)
        sizes = np.array([len(by_pt[s]) for s in strata])
        quotas = stratified_quotas(sizes, config.max_pool, np.random.default_rng(config.seed))
        items = [
            i for s, quota in zip(strata, quotas) for i in sorted(by_pt[s], key=lambda i: (-best[i][0], i))[:quota]
        ]
    items.sort(key=lambda i: (-best[i][0], i))
    return [
        (i, best[i][1], best[i][0], catalog.pt_names[pt[i]] if pt[i] >= 0 else "", tuple(best[i][2])) for i in items
    ]


def random_cart(rng: np.random.Generator, size: int) -> list[int]:
    grocery = rng.choice(GROCERY_IDS, size=size, replace=False).tolist()
    extras = [int(rng.choice(GM_IDS)), UNKNOWN, grocery[0]]  # a GM item, an unknown id, a repeated item
    cart = grocery + extras[: int(rng.integers(0, 4))]
    rng.shuffle(cart)
    return [int(i) for i in cart]


def as_tuples(pool: CandidatePool) -> list[tuple]:
    return [(c.item_id, c.anchor_id, c.score, c.product_type, c.anchors) for c in pool.candidates]


@pytest.mark.parametrize("seed", range(4))
def test_pool_equals_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    catalog, lists = synthetic_catalog(rng), synthetic_lists(rng)
    capped = 0
    for n in range(40):
        cart = random_cart(rng, int(rng.integers(1, 30)))
        config = PoolConfig(per_anchor=[30, 10, 45][n % 3], max_pool=[300, 60][n % 2], seed=n)
        pool = build_pool(cart, ScriptedSource(lists), catalog, config)
        want = reference_pool(cart, lists, catalog, config)
        assert as_tuples(pool) == want, (seed, n, cart)
        assert pool.item_ids == [w[0] for w in want] and pool.anchor_ids == [w[1] for w in want]
        assert pool.scores == [w[2] for w in want] and pool.product_types == [w[3] for w in want]
        capped += pool.n_union > config.max_pool
    assert capped >= 10  # the cap path was exercised, on 300 and on 60


def test_array_sources_give_the_pool_of_their_tuples() -> None:
    """A source with `top_arrays` (what serving uses) and one with only `top` give the same pool."""

    class Arrays(ScriptedSource):
        def top_arrays(self, anchor_id: int, k: int):
            pairs = self.top(anchor_id, k)
            return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.float64)

    assert isinstance(Arrays({}), ArraySource) and not isinstance(ScriptedSource({}), ArraySource)
    rng = np.random.default_rng(7)
    catalog, lists = synthetic_catalog(rng), synthetic_lists(rng)
    for _ in range(10):
        cart = random_cart(rng, 25)
        assert as_tuples(build_pool(cart, Arrays(lists), catalog)) == as_tuples(
            build_pool(cart, ScriptedSource(lists), catalog)
        )


def reference_heuristic(cart, candidates, lists, catalog, persona, household, per_anchor=30) -> list[float]:
    """The paper's production ranker (3.2) as `HeuristicScorer` defines it, one candidate at a time."""
    distinct = [i for i in dict.fromkeys(cart) if catalog.row(i) >= 0]
    pt_count: dict[int, int] = {}
    for i in distinct:
        code = int(catalog.pt_code[catalog.row(i)])
        pt_count[code] = pt_count.get(code, 0) + 1
    weight: dict[int, float] = {}
    best: dict[int, float] = {}
    for anchor in distinct:
        row = catalog.row(anchor)
        if not catalog.is_grocery[row]:
            continue
        for item, s in lists.get(anchor, [])[:per_anchor]:
            weight[item] = weight.get(item, 0.0) + pt_count[int(catalog.pt_code[row])]
            best[item] = max(best.get(item, -np.inf), s)
    vec = persona.vector(household)[N_DEMOGRAPHIC:].astype(np.float64)
    column = {c: n for n, c in enumerate(persona.categories) if c}
    out = []
    for item in candidates:
        row = catalog.row(item)
        if row < 0:
            out.append(-np.inf)
            continue
        col = column.get(catalog.category[row], -1)
        affinity = vec[col] if col >= 0 else 0.0
        out.append(weight.get(item, 0.0) * (1.0 + affinity) + 1e-3 * np.tanh(best.get(item, 0.0) / 10.0))
    return out


def test_heuristic_equals_the_reference() -> None:
    rng = np.random.default_rng(11)
    catalog, lists = synthetic_catalog(rng), synthetic_lists(rng)
    scores = rng.uniform(0, 1, (3, N_PERSONA)).astype(np.float32)
    persona = PersonaTable(np.array([1, 2, 3]), scores, tuple(f"cat{c}" for c in range(10)) + ("",) * 37)
    h = HeuristicScorer(catalog, ScriptedSource(lists), persona)
    for n in range(30):
        cart = random_cart(rng, int(rng.integers(1, 25)))
        pool = build_pool(cart, ScriptedSource(lists), catalog)
        candidates = pool.item_ids + [UNKNOWN, int(GM_IDS[0]), int(GM_IDS[1])]  # unknown and unlisted ones too
        household = [None, 1, 3, 42][n % 4]
        got = h.score(cart, np.asarray(candidates), household)
        want = reference_heuristic(cart, candidates, lists, catalog, persona, household)
        assert got.tolist() == want
        # From the pool's own pairs (what the service calls): the same scores for the pool's candidates.
        assert h.score_pool(cart, pool, household).tolist() == want[: len(pool)]


class ArrayLists(ScriptedSource):
    """The scripted lists as an `ArraySource` (what the service compiles)."""

    def top_arrays(self, anchor_id: int, k: int):
        pairs = self.top(anchor_id, k)
        return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.float64)


def test_compiled_index_gives_the_same_pool_heuristic_and_origins() -> None:
    """`CandidateIndex` (what a serving state builds) answers exactly as the source it was compiled from."""
    rng = np.random.default_rng(5)
    catalog, lists = synthetic_catalog(rng), synthetic_lists(rng)
    source = ArrayLists(lists)
    origin = {a: ("item_xp" if a % 20 == 0 else "historical") for a in lists}
    del origin[int(GROCERY_IDS[3])]  # the source "does not hold" this anchor after all: left out of the index
    index = CandidateIndex.compile(source, list(lists), catalog, k=45, origin=origin.get)
    assert len(index) == len(lists) - 1 and int(GROCERY_IDS[3]) not in index and int(GROCERY_IDS[0]) in index
    assert index.origin_names(np.array([10, 20, int(GROCERY_IDS[3]), UNKNOWN])) == ["historical", "item_xp", None, None]
    lists_held = {a: v for a, v in lists.items() if a in origin}
    scores = rng.uniform(0, 1, (2, N_PERSONA)).astype(np.float32)
    persona = PersonaTable(np.array([1, 2]), scores, tuple(f"cat{c}" for c in range(10)) + ("",) * 37)
    h_index, h_ref = (
        HeuristicScorer(catalog, index, persona),
        HeuristicScorer(catalog, ScriptedSource(lists_held), persona),
    )
    for n in range(30):
        cart = random_cart(rng, int(rng.integers(1, 30)))
        config = PoolConfig(per_anchor=[30, 10, 45][n % 3], max_pool=[300, 60][n % 2], seed=n)
        got, want = (
            build_pool(cart, index, catalog, config),
            build_pool(cart, ScriptedSource(lists_held), catalog, config),
        )
        assert as_tuples(got) == as_tuples(want), (n, cart)
        assert got.item_rows.tolist() == catalog.rows(want.item_array).tolist()
        if config.per_anchor == 30:
            household = [None, 2][n % 2]
            assert h_index.score_pool(cart, got, household).tolist() == h_ref.score_pool(cart, want, household).tolist()
            assert (
                h_index.score(cart, got.item_array, household).tolist()
                == h_ref.score(cart, want.item_array, household).tolist()
            )
    anchor = int(GROCERY_IDS[0])
    assert index.top(anchor, 7) == lists[anchor][:7]
    assert index.top(UNKNOWN, 7) == []


def test_seed_draws_are_the_generators_draws() -> None:
    """The pool's cached draws replay `np.random.default_rng(seed)` exactly, past the cache too."""
    for seed in (0, 3):
        g, d = np.random.default_rng(seed), SeedDraws(seed)
        for n in (5, 300, 4000, 7):  # crosses the 4096 cached draws
            assert d.random(n).tolist() == g.random(n).tolist()


def test_catalog_rows_small_and_large_lookups_agree() -> None:
    catalog = synthetic_catalog(np.random.default_rng(2))
    ids = np.concatenate([catalog.item_ids[::7], [UNKNOWN, -5, 0]])
    large = catalog.rows(np.tile(ids, 3))[: len(ids)]  # > 64 ids: binary search
    for chunk in (ids[:10], ids[10:70], ids[-3:]):
        small = catalog.rows(chunk)
        assert small.dtype == np.int64 and small.tolist() == catalog.rows(np.tile(chunk, 70))[: len(chunk)].tolist()
    assert large[-3:].tolist() == [-1, -1, -1] and (catalog.item_ids[large[:-3]] == ids[:-3]).all()
    assert catalog.pt_codes_of(np.array([0, -1])).tolist() == [int(catalog.pt_code[0]), -1]
