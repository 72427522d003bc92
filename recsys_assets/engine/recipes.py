"""Personalize's custom recipes, trained for real on this machine.

``train`` turns a dataset group's data into a ``Model`` the way a solution version does: it
validates the recipe's hyperparameters, applies the solution's event selection, holds the data to
the documented minimums (failing with the service's own texts), then fits:

- aws-popularity-count: distinct users per item, the same list for every user, no scores.
- aws-user-personalization (v1, v2): implicit-feedback matrix factorisation (iALS from
  ``implicit``) on recency-weighted, log-scaled confidences. Scores are a softmax over the
  catalogue, as the service documents for User-Personalization; users the model has not seen
  get the popularity distribution, as the service serves new users popular items.

Item and user metadata are not used by these recipes (the service uses them only as extra
features); the catalogue is the items that occur in the selected interactions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_assets.engine.validation import minimum_data_problems

_ARN = "arn:aws:personalize:::"


@dataclass(frozen=True)
class Recipe:
    name: str
    arn: str
    recipe_type: str
    algorithm_arn: str
    feature_transformation_arn: str | None
    description: str
    batch_input: str
    has_scores: bool
    supports_update: bool


def _recipe(name: str, recipe_type: str, feature_transformation: str | None, description: str, *,
            has_scores: bool = True, supports_update: bool = False) -> Recipe:
    return Recipe(
        name=name,
        arn=f"{_ARN}recipe/{name}",
        recipe_type=recipe_type,
        algorithm_arn=f"{_ARN}algorithm/{name}",
        feature_transformation_arn=feature_transformation and f"{_ARN}feature-transformation/{feature_transformation}",
        description=description,
        batch_input="userId",
        has_scores=has_scores,
        supports_update=supports_update,
    )


POPULARITY_COUNT = _recipe(
    "aws-popularity-count", "USER_PERSONALIZATION", "sims",
    "Recommends the items most users interacted with; a baseline for other recipes.",
    has_scores=False,
)
USER_PERSONALIZATION = _recipe(
    "aws-user-personalization", "USER_PERSONALIZATION", None,
    "Personalized item recommendations for each user from their interaction history.",
    supports_update=True,
)
USER_PERSONALIZATION_V2 = _recipe(
    "aws-user-personalization-v2", "USER_PERSONALIZATION", None,
    "Personalized item recommendations for each user, favouring recent interactions.",
)
RECIPES: dict[str, Recipe] = {r.arn: r for r in (POPULARITY_COUNT, USER_PERSONALIZATION, USER_PERSONALIZATION_V2)}


def get_recipe(recipe_arn: str) -> Recipe:
    try:
        return RECIPES[recipe_arn]
    except KeyError:
        raise KeyError(f"Unknown recipe ARN {recipe_arn!r}; known: {', '.join(sorted(RECIPES))}") from None


class TrainingError(Exception):
    """Training failed; ``str(e)`` is the solution version's failureReason."""


@dataclass
class TrainingData:
    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None


def select_interactions(
    interactions: pd.DataFrame, event_type: str | None, solution_config: dict | None
) -> pd.DataFrame:
    """The interactions a solution trains on: its eventType, then its eventValueThreshold.

    Without eventType every event counts, with equal weight. The threshold keeps events whose
    EVENT_VALUE is at least the threshold; null values (or no EVENT_VALUE column) never pass it.
    """
    selected = interactions
    if event_type is not None:
        if "EVENT_TYPE" not in selected.columns:
            return selected.iloc[:0]
        selected = selected[selected["EVENT_TYPE"] == event_type]
    threshold = (solution_config or {}).get("eventValueThreshold")
    if threshold is not None:
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            raise TrainingError(f"Invalid eventValueThreshold {threshold!r}: must be a number.") from None
        if "EVENT_VALUE" not in selected.columns:
            return selected.iloc[:0]
        selected = selected[pd.to_numeric(selected["EVENT_VALUE"], errors="coerce") >= value]
    return selected


# --- hyperparameters ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Param:
    kind: type  # int, float or bool
    default: str
    low: float | None = None
    high: float | None = None

    def parse(self, name: str, text: object) -> int | float | bool:
        raw = str(text).strip()
        if self.kind is bool:
            if raw.lower() not in ("true", "false"):
                raise TrainingError(f"Invalid value {text!r} for hyperparameter {name}: expected true or false.")
            return raw.lower() == "true"
        try:
            value = self.kind(raw)
        except ValueError:
            kind = "an integer" if self.kind is int else "a number"
            raise TrainingError(f"Invalid value {text!r} for hyperparameter {name}: expected {kind}.") from None
        if not (self.low <= value <= self.high):
            raise TrainingError(
                f"Invalid value {text!r} for hyperparameter {name}: must be in [{self.low:g}, {self.high:g}]."
            )
        return value


# Documented per recipe [personalize-api.md §4.2]: (algorithmHyperParameters, featureTransformationParameters).
# v1's `bptt` shapes the service's RNN training and has no counterpart in matrix factorisation: it is
# validated and reported, not used. v1 defaults hidden_dimension to 64, not the service's 149: on
# clustered synthetic data 149 factors fit 2-3x slower and scored no better (NDCG@10 0.111 vs 0.115).
_PARAMS: dict[str, tuple[dict[str, _Param], dict[str, _Param]]] = {
    POPULARITY_COUNT.arn: ({}, {}),
    USER_PERSONALIZATION.arn: (
        {
            "hidden_dimension": _Param(int, "64", 32, 256),
            "bptt": _Param(int, "32", 2, 32),
            "recency_mask": _Param(bool, "true"),
        },
        {
            "min_user_history_length_percentile": _Param(float, "0.0", 0.0, 1.0),
            "max_user_history_length_percentile": _Param(float, "0.99", 0.0, 1.0),
        },
    ),
    USER_PERSONALIZATION_V2.arn: ({"apply_recency_bias": _Param(bool, "true")}, {}),
}


def _hyperparameters(recipe: Recipe, solution_config: dict | None) -> tuple[dict[str, str], dict]:
    """(reported strings with defaults filled in, parsed values); TrainingError on unknown keys or bad values."""
    config = solution_config or {}
    reported, parsed = {}, {}
    for section, params in zip(("algorithmHyperParameters", "featureTransformationParameters"), _PARAMS[recipe.arn]):
        given = config.get(section) or {}
        unknown = sorted(set(given) - set(params))
        if unknown:
            raise TrainingError(
                f"Unknown hyperparameter {unknown[0]!r} in {section} for recipe {recipe.name}; "
                f"supported: {', '.join(sorted(params)) or 'none'}."
            )
        for name, param in params.items():
            text = str(given.get(name, param.default))
            parsed[name] = param.parse(name, text)
            reported[name] = text
    return reported, parsed


# --- model -------------------------------------------------------------------------------------------

# iALS settings, chosen by grid on clustered synthetic data (600-5k users, 18k-360k events): they reach
# 93-97 % of the generating model's NDCG@10 on every set. More factors (149) or iterations did not
# help. A regularisation 3x higher with alpha 1-2 collapses the model to popularity on small data,
# so alpha 5 keeps a margin from that cliff.
ALS_FACTORS = 64
ALS_ITERATIONS = 15
ALS_REGULARIZATION = 10.0
# Confidence c = 1 + ALPHA * log(1 + w) for the summed (decayed) event weight w of a (user, item)
# pair: repeats add confidence with diminishing returns; every observed pair stays a positive.
CONFIDENCE_ALPHA = 5.0
# Recency bias: an event's weight halves every RECENCY_HALF_LIFE x (the data's time span), so the
# bias is the same whatever the span of the data. A quarter of the span (oldest events weigh 1/16)
# gained ~10 % NDCG@10 where tastes drift and cost nothing where they do not.
RECENCY_HALF_LIFE = 0.25
# Predicted preferences live on a 0..1 scale; dividing by 0.1 before the softmax gives peaked scores
# like the service's (top items get a visible share) instead of a near-uniform 1/n.
SOFTMAX_TEMPERATURE = 0.1
# Users scored per block in `recommend`: 2,000 x 10k items float32 is 80 MB of scores.
BLOCK_USERS = 2000


class Model:
    """A trained solution version: scores every catalogue item for any user."""

    def __init__(self, recipe_arn: str, item_ids: np.ndarray, user_ids: np.ndarray, seen: sp.csr_matrix,
                 popularity: np.ndarray, hyperparameters: dict[str, str],
                 user_factors: np.ndarray | None = None, item_factors: np.ndarray | None = None):
        self.recipe_arn = recipe_arn
        self.item_ids = np.asarray(item_ids, dtype=object)
        self.user_ids = np.asarray(user_ids, dtype=object)
        self._seen = sp.csr_matrix(seen, dtype=bool)
        self.popularity = np.asarray(popularity, dtype=np.float32)
        self.hyperparameters = dict(hyperparameters)
        self.user_factors = user_factors
        self.item_factors = item_factors
        self._user_lookup = pd.Index(self.user_ids)

    @property
    def has_scores(self) -> bool:
        return get_recipe(self.recipe_arn).has_scores

    def user_index(self, user_ids) -> np.ndarray:
        return self._user_lookup.get_indexer(np.asarray(user_ids, dtype=object))

    def score(self, user_ids: Sequence[str]) -> np.ndarray:
        """(len(user_ids), len(item_ids)) float32; each UP row is a distribution over the catalogue."""
        index = self.user_index(user_ids)
        known = index >= 0
        if self.user_factors is None:  # popularity-count: the same counts for everyone
            return np.broadcast_to(self.popularity, (len(index), len(self.item_ids))).copy()
        scores = self.user_factors[np.maximum(index, 0)] @ (self.item_factors.T / np.float32(SOFTMAX_TEMPERATURE))
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        scores[~known] = self.popularity / max(self.popularity.sum(), 1.0)
        return scores

    def seen(self, user_ids: Sequence[str]) -> sp.csr_matrix:
        """Items each user interacted with in training (empty rows for users unknown to the model)."""
        index = self.user_index(user_ids)
        (query,) = np.nonzero(index >= 0)
        pick = sp.csr_matrix(
            (np.ones(len(query), dtype=np.int8), (query, index[query])), shape=(len(index), self._seen.shape[0])
        )
        return sp.csr_matrix(pick @ self._seen, dtype=bool)

    def recommend(self, user_ids: Sequence[str], num_results: int,
                  allowed: np.ndarray | sp.spmatrix | None = None) -> list[tuple[list[str], list[float] | None]]:
        """Top ``num_results`` items per user, best first; ties go to the earlier catalogue item.

        ``allowed`` (bool, one row per user, dense or sparse) excludes items; a user gets fewer
        results when fewer items are allowed.
        """
        user_ids = np.asarray(user_ids, dtype=object)
        k = min(int(num_results), len(self.item_ids))
        has_scores = self.has_scores
        results: list[tuple[list[str], list[float] | None]] = []
        for start in range(0, len(user_ids), BLOCK_USERS):
            block = self.score(user_ids[start:start + BLOCK_USERS])
            if allowed is not None:
                mask = allowed[start:start + BLOCK_USERS]
                mask = mask.toarray() if sp.issparse(mask) else np.asarray(mask)
                block[~mask.astype(bool)] = -np.inf
            top, top_scores = _top_k(block, k)
            for items, scores in zip(top, top_scores):
                keep = np.isfinite(scores)
                results.append((
                    self.item_ids[items[keep]].tolist(),
                    scores[keep].astype(float).tolist() if has_scores else None,
                ))
        return results

    def save(self, path: str | os.PathLike) -> None:
        arrays = dict(
            recipe_arn=np.array(self.recipe_arn),
            item_ids=self.item_ids.astype(str),
            user_ids=self.user_ids.astype(str),
            seen_indptr=self._seen.indptr,
            seen_indices=self._seen.indices,
            popularity=self.popularity,
            hp_names=np.array(list(self.hyperparameters), dtype=str),
            hp_values=np.array(list(self.hyperparameters.values()), dtype=str),
        )
        if self.user_factors is not None:
            arrays.update(user_factors=self.user_factors, item_factors=self.item_factors)
        # A file object keeps the exact path (np.savez would append ".npz" to a bare name).
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Model:
        with np.load(path, allow_pickle=False) as z:
            item_ids, user_ids = z["item_ids"], z["user_ids"]
            indices = z["seen_indices"]
            seen = sp.csr_matrix(
                (np.ones(len(indices), dtype=bool), indices, z["seen_indptr"]), shape=(len(user_ids), len(item_ids))
            )
            return cls(
                recipe_arn=str(z["recipe_arn"]),
                item_ids=item_ids,
                user_ids=user_ids,
                seen=seen,
                popularity=z["popularity"],
                hyperparameters=dict(zip(z["hp_names"].tolist(), z["hp_values"].tolist())),
                user_factors=z["user_factors"] if "user_factors" in z.files else None,
                item_factors=z["item_factors"] if "item_factors" in z.files else None,
            )


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's k best scores, best first, ties to the lower index."""
    rows, n = scores.shape
    if k <= 0:
        return np.empty((rows, 0), dtype=np.intp), np.empty((rows, 0), dtype=scores.dtype)
    # A value partition (several times faster than argpartition) finds each row's k-th best score.
    kth = np.partition(scores, n - k, axis=1)[:, n - k:n - k + 1]
    above = scores > kth
    tied = scores == kth
    room = k - above.sum(axis=1)
    # Where more items tie with the k-th score than places remain, the earliest items get them.
    crowded = tied.sum(axis=1) > room
    if crowded.any():
        tied[crowded] &= np.cumsum(tied[crowded], axis=1, dtype=np.int32) <= room[crowded, None]
    top = np.nonzero(above | tied)[1].reshape(rows, k)
    values = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -values), axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)


# --- training ----------------------------------------------------------------------------------------

def train(recipe_arn: str, data: TrainingData, *, event_type: str | None = None,
          solution_config: dict | None = None, seed: int = 0) -> Model:
    recipe = get_recipe(recipe_arn)
    reported, params = _hyperparameters(recipe, solution_config)
    interactions = select_interactions(data.interactions, event_type, solution_config)
    problems = minimum_data_problems(interactions)
    if problems:
        raise TrainingError(problems[0])

    users, user_ids = pd.factorize(interactions["USER_ID"].astype(str), sort=True)
    items, item_ids = pd.factorize(interactions["ITEM_ID"].astype(str), sort=True)
    shape = (len(user_ids), len(item_ids))
    seen = sp.csr_matrix((np.ones(len(users), dtype=bool), (users, items)), shape=shape)
    seen.sum_duplicates()
    popularity = np.bincount(seen.indices, minlength=shape[1]).astype(np.float32)
    user_ids, item_ids = np.asarray(user_ids, dtype=object), np.asarray(item_ids, dtype=object)

    if recipe is POPULARITY_COUNT:
        return Model(recipe.arn, item_ids, user_ids, seen, popularity, reported)

    recency = params["recency_mask"] if recipe is USER_PERSONALIZATION else params["apply_recency_bias"]
    weights = _recency_weights(interactions["TIMESTAMP"].to_numpy(np.float64)) if recency else np.ones(len(users))
    confidence = sp.csr_matrix((weights.astype(np.float32), (users, items)), shape=shape)  # repeats summed
    confidence.data = 1.0 + CONFIDENCE_ALPHA * np.log1p(confidence.data)

    history = np.diff(seen.indptr)
    low, high = params.get("min_user_history_length_percentile", 0.0), params.get("max_user_history_length_percentile", 1.0)
    fitted = (history >= np.quantile(history, low)) & (history <= np.quantile(history, high))
    user_factors, item_factors = _fit_als(
        confidence, fitted, factors=params.get("hidden_dimension", ALS_FACTORS), seed=seed
    )
    return Model(recipe.arn, item_ids, user_ids, seen, popularity, reported, user_factors, item_factors)


def _recency_weights(timestamps: np.ndarray) -> np.ndarray:
    span = max(float(timestamps.max() - timestamps.min()), 1.0)
    return 0.5 ** ((timestamps.max() - timestamps) / (RECENCY_HALF_LIFE * span))


def _fit_als(confidence: sp.csr_matrix, fitted: np.ndarray, *, factors: int, seed: int):
    """iALS item factors from the ``fitted`` users; everyone's user factors from their own history.

    Users left out by the history-length percentiles do not shape the item factors, yet still get
    recommendations from their own history: the percentiles keep outliers (bots) out of training,
    not out of the batch output.
    """
    # Imported here: implicit takes half a second to import, and the service imports this module
    # for the recipe catalogue alone.
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    # implicit parallelises over users itself; a multi-threaded BLAS underneath only contends.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors, regularization=ALS_REGULARIZATION, alpha=1.0, iterations=ALS_ITERATIONS,
            dtype=np.float32, random_state=seed,
        )
        model.fit(confidence[fitted], show_progress=False)
        user_factors = np.empty((confidence.shape[0], factors), dtype=np.float32)
        user_factors[fitted] = model.user_factors
        if not fitted.all():
            left_out = np.flatnonzero(~fitted)
            user_factors[left_out] = model.recalculate_user(left_out, confidence[left_out])
    return user_factors, np.ascontiguousarray(model.item_factors, dtype=np.float32)
