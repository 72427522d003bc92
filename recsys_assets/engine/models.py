"""Trained solution versions: what a recipe's training produces and what batch inference reads.

Every model knows its catalogue (``item_ids``), the users it was trained on (``user_ids``), which items
each of them interacted with (``seen``) and each item's popularity (distinct users). How it scores
depends on its kind:

- ``PopularityModel``: one score vector for everyone (popularity-count's counts, trending-now's growth).
- ``FactorModel`` (iALS), ``LinearModel`` (EASE) and ``BlendModel`` (both): per-user scores whose
  softmax over the catalogue is the service's "score"; users the model has not seen get the
  popularity distribution. With ``repeats`` (``engine.repeats``) the softmax is the explore part of
  a repeat/explore mixture: the user's own items are ranked by their chance to come back.
- ``RelatedItemsModel``: item-to-item similarities (SIMS, Similar-Items); ``similar`` takes item ids.

Scoring runs in blocks of users on a small thread pool: the matrix products and the compiled top-k and
softmax loops (``kernels``) release the GIL, so the two cores of a small machine both work while
memory stays bounded.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_assets.engine.repeats import Repeats

# Predicted preferences live on a 0..1 scale; dividing by 0.1 before the softmax gives peaked scores
# like the service's (top items get a visible share) instead of a near-uniform 1/n.
SOFTMAX_TEMPERATURE = 0.1
# Keys scored per task: 1M float32 is 4 MB, so each thread's keys and work arrays stay in the CPU's
# cache between the passes over them (40 MB blocks scored a third slower at 100k users x 10k items).
BLOCK_CELLS = 1_000_000
THREADS = max(1, min(4, os.cpu_count() or 1))

Results = list[tuple[list[str], list[float] | None]]


class Model:
    """A trained solution version. Subclasses say how a block of users scores the catalogue."""

    kind = ""
    _KINDS: dict[str, type[Model]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Model._KINDS[cls.kind] = cls

    def __init__(self, *, recipe_arn: str, has_scores: bool, item_ids, user_ids, seen: sp.spmatrix,
                 popularity, hyperparameters: dict[str, str], tuned_hyperparameters: dict[str, str] | None = None,
                 repeats: Repeats | None = None):
        self.recipe_arn = recipe_arn
        self.has_scores = bool(has_scores)
        self.item_ids = np.asarray(item_ids, dtype=object)
        self.user_ids = np.asarray(user_ids, dtype=object)
        self._seen = sp.csr_matrix(seen, dtype=bool)
        self.popularity = np.asarray(popularity, dtype=np.float32)
        self.hyperparameters = dict(hyperparameters)
        self.tuned_hyperparameters = None if tuned_hyperparameters is None else dict(tuned_hyperparameters)
        self.repeats = repeats
        self._user_lookup = pd.Index(self.user_ids)
        self._item_lookup = pd.Index(self.item_ids)

    # --- lookups ---------------------------------------------------------------------------------
    def user_index(self, user_ids) -> np.ndarray:
        return self._user_lookup.get_indexer(np.asarray(user_ids, dtype=object))

    def item_index(self, item_ids) -> np.ndarray:
        return self._item_lookup.get_indexer(np.asarray(item_ids, dtype=object))

    def seen(self, user_ids: Sequence[str]) -> sp.csr_matrix:
        """Items each user interacted with in training (empty rows for users unknown to the model)."""
        index = self.user_index(user_ids)
        (query,) = np.nonzero(index >= 0)
        pick = sp.csr_matrix(
            (np.ones(len(query), dtype=np.int8), (query, index[query])), shape=(len(index), self._seen.shape[0])
        )
        return sp.csr_matrix(pick @ self._seen, dtype=bool)

    # --- scoring ---------------------------------------------------------------------------------
    def _keys(self, index: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(len(index), n_items) float32 ranking keys for users by index (-1: unknown); writable, and
        in ``out`` where the model can write there.

        For models with scores the keys are log-probabilities up to a per-row constant.
        """
        raise TypeError(f"{type(self).__name__} recommends items for an itemId; use similar()")

    def _popular_keys(self, rows: int) -> np.ndarray:
        # The popularity distribution's logarithm; items nobody interacted with get (almost) nothing.
        logp = np.log(np.maximum(self.popularity, 1e-30) / max(float(self.popularity.sum()), 1.0))
        return np.broadcast_to(logp.astype(np.float32), (rows, len(self.item_ids))).copy()

    def score(self, user_ids: Sequence[str]) -> np.ndarray:
        """(len(user_ids), n_items) float32: a distribution over the catalogue per user for models with
        scores, the shared ranking score (e.g. popularity counts) otherwise."""
        keys = self._keys(self.user_index(user_ids))
        if self.has_scores:
            keys -= keys.max(axis=1, keepdims=True)
            np.exp(keys, out=keys)
            keys /= keys.sum(axis=1, keepdims=True)
        return keys

    def top_items(self, user_ids: Sequence[str], num_results: int, allowed: np.ndarray | sp.spmatrix | None = None,
                  *, with_scores: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Each user's best ``num_results`` items, as catalogue indices (-1 pads rows with fewer allowed
        items) and, for models with scores (unless ``with_scores`` is false: a pass over the catalogue
        saved), their catalogue-softmax scores (NaN padding)."""
        index = self.user_index(user_ids)
        return self._top(index, num_results, allowed, self._keys, with_scores and self.has_scores)

    def recommend(self, user_ids: Sequence[str], num_results: int,
                  allowed: np.ndarray | sp.spmatrix | None = None) -> Results:
        """Top ``num_results`` items per user, best first; ties go to the earlier catalogue item.

        ``allowed`` (bool, one row per user, dense or sparse) excludes items; a user gets fewer
        results when fewer items are allowed.
        """
        return self._as_lists(*self.top_items(user_ids, num_results, allowed))

    def rank(self, user_ids: Sequence[str], item_lists: Sequence[Sequence[str]]) -> Results:
        """Each user's ``item_lists`` entry reordered best first (GetPersonalizedRanking).

        Scores are a softmax over the list's known items, so they sum to 1 over the list; items the
        model never saw are appended in input order with score 0 (repeats of an item are dropped).
        """
        if len(user_ids) != len(item_lists):
            raise ValueError(f"{len(user_ids)} users for {len(item_lists)} item lists")
        index = self.user_index(user_ids)
        out: Results = []
        rows = _block_rows(len(self.item_ids))
        for start in range(0, len(index), rows):
            keys = self._keys(index[start:start + rows])
            for row, listed in zip(keys, item_lists[start:start + rows]):
                listed = list(dict.fromkeys(str(i) for i in listed))
                position = self.item_index(listed)
                known = position >= 0
                values = row[position[known]].astype(np.float64)
                order = np.argsort(-values, kind="stable")
                ranked = [i for i, k in zip(listed, known) if k]
                items = [ranked[o] for o in order] + [i for i, k in zip(listed, known) if not k]
                if not self.has_scores:
                    out.append((items, None))
                    continue
                probs = np.exp(values - values.max()) if len(values) else values
                probs = probs / probs.sum() if len(values) else probs
                out.append((items, probs[order].tolist() + [0.0] * int((~known).sum())))
        return out

    def similar(self, item_ids: Sequence[str], num_results: int,
                allowed: np.ndarray | sp.spmatrix | None = None) -> Results:
        raise TypeError(f"{type(self).__name__} recommends items for a userId; similar() needs a related-items recipe")

    def _top(self, index: np.ndarray, num_results: int, allowed, keys_for,
             with_scores: bool) -> tuple[np.ndarray, np.ndarray | None]:
        from recsys_assets.engine import kernels

        n, k = len(index), max(0, min(int(num_results), len(self.item_ids)))
        if allowed is not None and allowed.shape != (n, len(self.item_ids)):
            raise ValueError(f"allowed has shape {allowed.shape}; expected {(n, len(self.item_ids))}")
        items = np.full((n, k), -1, dtype=np.int32)
        scores = np.full((n, k), np.nan, dtype=np.float32) if with_scores else None

        rows = _block_rows(len(self.item_ids))

        def block(start: int) -> None:
            stop = min(start + rows, n)
            shape = (stop - start, len(self.item_ids))
            keys = keys_for(index[start:stop], _buffer("keys", shape, np.float32))
            # Scores are shares of the whole catalogue, whatever the filter leaves: the total is taken
            # before masking (without a filter, after the top k, whose first key is the row maximum).
            log_total = None
            if allowed is not None:
                if with_scores:
                    log_total = kernels.log_sum_exp(keys, keys.max(axis=1))
                mask = allowed[start:stop]
                mask = mask.toarray() if sp.issparse(mask) else np.asarray(mask)
                keys[~mask.astype(bool, copy=False)] = -np.inf
            top_index, top_keys = kernels.top_k(keys, k, _buffer("packed", shape, np.uint64))
            found = top_keys > -np.inf
            items[start:stop] = np.where(found, top_index, -1)
            if with_scores and k:
                if log_total is None:
                    log_total = kernels.log_sum_exp(keys, top_keys[:, 0])
                scores[start:stop] = np.where(found, np.exp(top_keys - log_total), np.nan)

        _run_blocks(block, n, rows)
        return items, scores

    def _as_lists(self, items: np.ndarray, scores: np.ndarray | None) -> Results:
        out: Results = []
        for row in range(len(items)):
            found = items[row] >= 0
            out.append((
                self.item_ids[items[row][found]].tolist(),
                scores[row][found].astype(float).tolist() if scores is not None else None,
            ))
        return out

    # --- persistence -----------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def save(self, path: str | os.PathLike) -> None:
        arrays = dict(
            kind=np.array(self.kind),
            recipe_arn=np.array(self.recipe_arn),
            has_scores=np.array(self.has_scores),
            item_ids=self.item_ids.astype(str),
            user_ids=self.user_ids.astype(str),
            popularity=self.popularity,
            hp_names=np.array(list(self.hyperparameters), dtype=str),
            hp_values=np.array(list(self.hyperparameters.values()), dtype=str),
            **_sparse_arrays("seen", self._seen),
            **(self.repeats.arrays() if self.repeats is not None else {}),
            **self._arrays(),
        )
        if self.tuned_hyperparameters is not None:
            arrays.update(tuned_names=np.array(list(self.tuned_hyperparameters), dtype=str),
                          tuned_values=np.array(list(self.tuned_hyperparameters.values()), dtype=str))
        # A file object keeps the exact path (np.savez would append ".npz" to a bare name).
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Model:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        common = dict(
            recipe_arn=str(arrays["recipe_arn"]),
            has_scores=bool(arrays["has_scores"]),
            item_ids=arrays["item_ids"],
            user_ids=arrays["user_ids"],
            seen=_sparse_from(arrays, "seen"),
            popularity=arrays["popularity"],
            hyperparameters=dict(zip(arrays["hp_names"].tolist(), arrays["hp_values"].tolist())),
            tuned_hyperparameters=(dict(zip(arrays["tuned_names"].tolist(), arrays["tuned_values"].tolist()))
                                   if "tuned_names" in arrays else None),
            repeats=Repeats.from_arrays(arrays),
        )
        return cls._KINDS[str(arrays["kind"])]._from_arrays(common, arrays)

    @classmethod
    def _from_arrays(cls, common: dict, arrays: dict[str, np.ndarray]) -> Model:
        return cls(**common)


class PopularityModel(Model):
    """The same ranking for everyone: ``item_scores`` (distinct users for popularity-count, recent
    growth for trending-now)."""

    kind = "popularity"

    def __init__(self, *, item_scores, **common):
        super().__init__(**common)
        self.item_scores = np.asarray(item_scores, dtype=np.float32)

    def _keys(self, index, out=None):
        if out is None:
            out = np.empty((len(index), len(self.item_ids)), dtype=np.float32)
        out[...] = self.item_scores
        return out

    def _arrays(self):
        return {"item_scores": self.item_scores}

    @classmethod
    def _from_arrays(cls, common, arrays):
        return cls(item_scores=arrays["item_scores"], **common)


class _PerUserModel(Model):
    """Models that score each known user from their own parameters or history (``_known_keys``)."""

    def _known_keys(self, index: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def _keys(self, index, out=None):
        known = index >= 0
        if known.all():
            keys = self._known_keys(index, out)
        else:
            keys = self._popular_keys(len(index))
            keys[known] = self._known_keys(index[known])
        if self.repeats is not None:
            self.repeats.apply(keys, index)
        return keys


class FactorModel(_PerUserModel):
    """Matrix factorisation: a user's keys are their factors times the item factors."""

    kind = "factors"

    def __init__(self, *, user_factors, item_factors, **common):
        super().__init__(**common)
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        # Transposed and pre-divided by the temperature once, not per block.
        self._scaled_items_t = np.ascontiguousarray(self.item_factors.T / np.float32(SOFTMAX_TEMPERATURE))

    def _known_keys(self, index, out=None):
        return np.matmul(self.user_factors[index], self._scaled_items_t, out=out)

    def _arrays(self):
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    @classmethod
    def _from_arrays(cls, common, arrays):
        return cls(user_factors=arrays["user_factors"], item_factors=arrays["item_factors"], **common)


class LinearModel(_PerUserModel):
    """An item-item linear model (EASE): a user's keys are their weighted history times ``weights``."""

    kind = "linear"

    def __init__(self, *, weights, history: sp.spmatrix, **common):
        super().__init__(**common)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.history = sp.csr_matrix(history, dtype=np.float32)

    def _known_keys(self, index, out=None):
        keys = np.asarray(self.history[index] @ self.weights, dtype=np.float32)
        keys /= np.float32(SOFTMAX_TEMPERATURE)
        return keys

    def _arrays(self):
        return {"weights": self.weights, **_sparse_arrays("history", self.history)}

    @classmethod
    def _from_arrays(cls, common, arrays):
        return cls(weights=arrays["weights"], history=_sparse_from(arrays, "history"), **common)


class BlendModel(_PerUserModel):
    """iALS and EASE together: ``blend_weight`` x iALS + (1 - ``blend_weight``) x EASE, each one's
    keys standardised per user first (their scales differ); the sum is the softmax logits."""

    kind = "blend"

    def __init__(self, *, factors: FactorModel, linear: LinearModel, blend_weight: float, **common):
        super().__init__(**common)
        self.factors, self.linear, self.blend_weight = factors, linear, float(blend_weight)

    def _known_keys(self, index, out=None):
        keys = _standardised(self.factors._known_keys(index)) * np.float32(self.blend_weight)
        keys += _standardised(self.linear._known_keys(index)) * np.float32(1.0 - self.blend_weight)
        return keys

    def _arrays(self):
        return {**self.factors._arrays(), **self.linear._arrays(), "blend_weight": np.array(self.blend_weight)}

    @classmethod
    def _from_arrays(cls, common, arrays):
        parts = {**common, "repeats": None}  # the blend mixes in the repeats, not its parts
        return cls(factors=FactorModel._from_arrays(parts, arrays), linear=LinearModel._from_arrays(parts, arrays),
                   blend_weight=float(arrays["blend_weight"]), **common)


def _standardised(keys: np.ndarray) -> np.ndarray:
    keys -= keys.mean(axis=1, keepdims=True)
    keys /= keys.std(axis=1, keepdims=True) + np.float32(1e-6)
    return keys


class RelatedItemsModel(Model):
    """Item-to-item similarities (each item's best neighbours, sparse). Queries with too few
    neighbours are filled up with popular items, and unknown items get popular items, as the service
    documents for SIMS and Similar-Items."""

    kind = "related"

    def __init__(self, *, similarity: sp.spmatrix, **common):
        super().__init__(**common)
        self.similarity = sp.csr_matrix(similarity, dtype=np.float32)
        # In (-1, 0): below every neighbour (similarity > 0), ordered by popularity.
        self._backfill = (self.popularity / (float(self.popularity.max(initial=0.0)) + 1.0) - 1.0).astype(np.float32)

    def _item_keys(self, index: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        keys = np.broadcast_to(self._backfill, (len(index), len(self.item_ids))).copy()
        (known,) = np.nonzero(index >= 0)
        neighbours = self.similarity[index[known]].tocoo()
        keys[known[neighbours.row], neighbours.col] = neighbours.data
        keys[known, index[known]] = -np.inf  # never the query item itself
        return keys

    def top_similar(self, item_ids: Sequence[str], num_results: int,
                    allowed: np.ndarray | sp.spmatrix | None = None) -> np.ndarray:
        """Catalogue indices of each item's ``num_results`` most similar items (-1 padding)."""
        return self._top(self.item_index(item_ids), num_results, allowed, self._item_keys, False)[0]

    def similar(self, item_ids, num_results, allowed=None) -> Results:
        """Most similar items per query item, best first, without scores (as the service returns them)."""
        return self._as_lists(self.top_similar(item_ids, num_results, allowed), None)

    def _arrays(self):
        return _sparse_arrays("similarity", self.similarity)

    @classmethod
    def _from_arrays(cls, common, arrays):
        return cls(similarity=_sparse_from(arrays, "similarity"), **common)


_local = threading.local()
_pools: dict[int, ThreadPoolExecutor] = {}


def _block_rows(items: int) -> int:
    return max(1, BLOCK_CELLS // max(items, 1))


def _buffer(name: str, shape: tuple[int, int], dtype) -> np.ndarray:
    """A work array of this thread, kept between calls: fresh arrays per block cost page faults."""
    buffer = getattr(_local, name, None)
    if buffer is None or buffer.shape[1] != shape[1] or buffer.shape[0] < shape[0] or buffer.dtype != dtype:
        buffer = np.empty((max(shape[0], _block_rows(shape[1])), shape[1]), dtype=dtype)
        setattr(_local, name, buffer)
    return buffer[:shape[0]]


def _run_blocks(block, n: int, rows: int) -> None:
    starts = range(0, n, rows)
    if THREADS == 1 or n <= rows:
        for start in starts:
            block(start)
        return
    from threadpoolctl import threadpool_limits

    if THREADS not in _pools:  # one pool per process, so its threads keep their buffers
        _pools[THREADS] = ThreadPoolExecutor(THREADS, thread_name_prefix="scoring")
    # Parallel blocks, each with a single-threaded BLAS: no oversubscription of the cores.
    with threadpool_limits(1, "blas"):
        for _ in _pools[THREADS].map(block, starts):
            pass


def _sparse_arrays(name: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    out = {f"{name}_indptr": matrix.indptr, f"{name}_indices": matrix.indices,
           f"{name}_shape": np.array(matrix.shape)}
    if matrix.dtype != bool:
        out[f"{name}_data"] = matrix.data
    return out


def _sparse_from(arrays: dict[str, np.ndarray], name: str) -> sp.csr_matrix:
    indices = arrays[f"{name}_indices"]
    data = arrays.get(f"{name}_data")
    if data is None:
        data = np.ones(len(indices), dtype=bool)
    return sp.csr_matrix((data, indices, arrays[f"{name}_indptr"]), shape=tuple(arrays[f"{name}_shape"]))
