"""The trainers behind each recipe family, and how a fit on part of the data is completed with the rest.

Each trainer takes the prepared data, one candidate's hyperparameter values, the events to fit on
(``keep``), a seed and a cache shared between candidates, and returns the model and the values it used.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_assets.engine import algorithms, repeats
from recsys_assets.engine.models import (
    BlendModel,
    FactorModel,
    LinearModel,
    Model,
    PopularityModel,
    RelatedItemsModel,
)
from recsys_assets.engine.recipes import hpo
from recsys_assets.engine.recipes.catalogue import ALS_FACTORS, BLEND, TREND_WINDOWS
from recsys_assets.engine.recipes.hpo import Relative
from recsys_assets.engine.recipes.preparation import Prepared

# Neighbours kept per item for RELATED_ITEMS: enough for numResults' maximum.
MAX_NEIGHBOURS = 500
# Similar-Items: weight of the metadata similarity next to the (row-normalised) co-occurrence one.
METADATA_WEIGHT = 0.3


@dataclass
class Fitted:
    model: Model
    values: dict  # the chosen candidate's hyperparameter values


def fit_candidate(prepared: Prepared, values: dict, keep: np.ndarray, seed: int, cache: dict) -> Fitted:
    """``cache`` holds fits of this ``keep`` shared between candidates (EASE's Gram and weights, the
    components of blends)."""
    model, resolved = _TRAINERS[prepared.recipe.trainer](prepared, values, keep, seed, cache)
    return Fitted(model, resolved)


# A long history drifts: a user's newest events say more about their next ones than their first
# (+2.8 % NDCG@10 on the ratings-like benchmark catalogue; 50 and 200 events did about as well;
# the others, with shorter histories, barely changed).
USER_HALF_LIFE = 100.0


def complete(fitted: Fitted, prepared: Prepared, exclude: np.ndarray, *, seed: int = 0) -> Model:
    """The model with every event, from ``fitted`` trained without the ``exclude`` events (the
    metrics' held-out truth).

    Matrix factorisation keeps its item factors and solves the affected users' factors from their
    whole history (least squares, implicit's ``recalculate_user``): one fit serves both the metrics and
    the final model. EASE keeps its weights and scores whole histories. The other recipes are cheap
    and retrain on everything.
    """
    model, values = fitted.model, fitted.values
    every = np.ones(len(prepared.events.user), dtype=bool)
    if not isinstance(model, (FactorModel, LinearModel, BlendModel)):
        return fit_candidate(prepared, values, every, seed, {}).model
    reported = model.hyperparameters, model.tuned_hyperparameters
    if isinstance(model, BlendModel):
        factors = _completed_factors(model.factors, prepared, values, exclude, reported)
        linear = _completed_linear(model.linear, prepared, values, reported)
        completed = BlendModel(factors=factors, linear=linear, blend_weight=model.blend_weight,
                               **_common(prepared, factors._seen, *reported))
    elif isinstance(model, LinearModel):
        completed = _completed_linear(model, prepared, values, reported)
    else:
        completed = _completed_factors(model, prepared, values, exclude, reported)
    return with_repeats(completed, prepared, values, sequences(prepared, every)) if model.repeats is not None else completed


def sequences(prepared: Prepared, keep: np.ndarray) -> repeats.Sequences:
    events = prepared.events
    index = events.in_user_time_order(keep)
    return repeats.Sequences.of(events.user[index], events.item[index], events.weight[index], len(events.item_ids))


def with_repeats(model: Model, prepared: Prepared, values: dict, seq: repeats.Sequences) -> Model:
    """``model`` serving a repeat/explore mixture (``engine.repeats``) learned from ``seq``, with the
    concrete ``repeat_weight`` and ``repeat_half_life`` in ``values``."""
    recency = _recency_on(values)
    served = copy.copy(model)
    served.repeats = repeats.build(seq, prepared.events.shape, weight=values["repeat_weight"],
                                   half_life=values["repeat_half_life"] if recency else None)
    return served


def _completed_linear(model: LinearModel, prepared: Prepared, values: dict, reported: tuple) -> LinearModel:
    weights = _pair_weights(prepared, values, half_life=values.get("ease_half_life"))
    return LinearModel(weights=model.weights, history=_ease_history(prepared, weights),
                       **_common(prepared, weights, *reported))


def _completed_factors(model: FactorModel, prepared: Prepared, values: dict, exclude: np.ndarray,
                       reported: tuple) -> FactorModel:
    weights = _pair_weights(prepared, values, half_life=values.get("ials_half_life"))
    changed = np.unique(prepared.events.user[exclude])
    user_factors = model.user_factors.copy()
    if len(changed):
        confidence = _confidence(weights[changed], values["ials_alpha"])
        user_factors[changed] = algorithms.ials_users(model.item_factors, confidence,
                                                      regularization=values["ials_regularization"])
    return FactorModel(user_factors=user_factors, item_factors=model.item_factors,
                       **_common(prepared, weights, *reported))


def _reported(prepared: Prepared, values: dict) -> dict[str, str]:
    """Every documented hyperparameter, and the engine settings that shaped this model."""
    relevant = hpo.relevant(prepared.params, values)
    return {name: prepared.params[name].format(value) for name, value in values.items()
            if name in relevant or not prepared.params[name].auto}


def _common(prepared: Prepared, weights: sp.csr_matrix, reported: dict[str, str],
            tuned: dict[str, str] | None = None) -> dict:
    seen = sp.csr_matrix(weights, dtype=bool)
    return dict(recipe_arn=prepared.recipe.arn, has_scores=prepared.recipe.has_scores,
                item_ids=prepared.events.item_ids, user_ids=prepared.events.user_ids, seen=seen,
                popularity=np.bincount(seen.indices, minlength=seen.shape[1]).astype(np.float32),
                hyperparameters=reported, tuned_hyperparameters=tuned)


def _train_popularity(prepared, values, keep, seed, cache):
    weights = prepared.events.matrix(np.ones(len(keep), dtype=np.float32), keep)
    common = _common(prepared, weights, _reported(prepared, values))
    return PopularityModel(item_scores=common["popularity"], **common), values


def _train_trending(prepared, values, keep, seed, cache):
    events = prepared.events
    common = _common(prepared, events.matrix(np.ones(len(keep), dtype=np.float32), keep), _reported(prepared, values))
    n, item, time = len(events.item_ids), events.item[keep], events.time[keep]
    window, end = TREND_WINDOWS[values["trend_discovery_frequency"]], time.max()
    growth = algorithms.trend_scores(item, time, n, window, end)
    latest = np.bincount(item[time > end - window], minlength=n)
    # Rank keys: growth, then the latest window's count, then popularity, then catalogue order: where
    # the last two windows hold little, popular items lead, as the service falls back to them.
    order = np.lexsort((np.arange(n), -common["popularity"], -latest, -growth))
    keys = np.empty(n, dtype=np.float32)
    keys[order] = np.arange(n, 0, -1)
    return PopularityModel(item_scores=keys, **common), values


def _pair_weights(prepared: Prepared, values: dict, keep: np.ndarray | None = None, *,
                  half_life: float | None = None) -> sp.csr_matrix:
    """users x items: summed event weights; when the recipe's recency setting is on, decayed by
    ``half_life`` of the data's time span and by USER_HALF_LIFE of each user's own events."""
    events = prepared.events
    recency = _recency_on(values)
    if not recency:
        return events.matrix(events.weight, keep)
    weight = events.weight * events.user_recency(USER_HALF_LIFE, keep)
    return events.matrix(weight * events.recency(half_life) if half_life else weight, keep)


def _recency_on(values: dict) -> bool:
    """The recipe's recency setting (v1 ``recency_mask``, v2 ``apply_recency_bias``)."""
    return values.get("recency_mask", values.get("apply_recency_bias", False))


def _log1p(weights: sp.csr_matrix) -> sp.csr_matrix:
    out = weights.astype(np.float32)
    out.data = np.log1p(out.data)
    return out


def _confidence(weights: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    out = _log1p(weights)
    out.data = 1.0 + np.float32(alpha) * out.data
    return out


def _history_fitted(prepared: Prepared, values: dict, seen: sp.csr_matrix) -> np.ndarray:
    """Users whose history length lies within the percentiles: they shape the model; the others are
    scored from their own history but kept out of fitting (bots and other outliers)."""
    return _within_percentiles(np.asarray(seen.getnnz(axis=1)), values.get("min_user_history_length_percentile", 0.0),
                               values.get("max_user_history_length_percentile", 1.0))


def _train_personalization(prepared, values, keep, seed, cache):
    if values["algorithm"] == BLEND:
        factors, _ = _train_personalization(prepared, {**values, "algorithm": "ials"}, keep, seed, cache)
        linear, ease = _train_personalization(prepared, {**values, "algorithm": "ease"}, keep, seed, cache)
        resolved = {**values, "ease_lambda": ease["ease_lambda"]}
        common = _common(prepared, _pair_weights(prepared, values, keep), _reported(prepared, resolved))
        return BlendModel(factors=factors, linear=linear, blend_weight=values["blend_weight"], **common), resolved
    # Candidates differing only in settings this algorithm ignores share one fit.
    key = tuple(sorted(hpo.relevant(prepared.params, values).items(), key=lambda kv: kv[0]))
    if key not in cache:
        cache[key] = (_train_ials if values["algorithm"] == "ials" else _train_ease)(prepared, values, keep, seed, cache)
    model, resolved = cache[key]
    # The cached fit may come from a candidate differing in ignored settings: report this one's.
    return model, {**values, **{n: resolved[n] for n in ("ease_lambda",) if values["algorithm"] == "ease"}}


def _train_ials(prepared, values, keep, seed, cache):
    weights = _pair_weights(prepared, values, keep, half_life=values.get("ials_half_life"))
    fitted = _history_fitted(prepared, values, sp.csr_matrix(weights, dtype=bool))
    user_factors, item_factors = algorithms.fit_ials(
        _confidence(weights, values["ials_alpha"]), fitted, factors=values.get("hidden_dimension", ALS_FACTORS),
        regularization=values["ials_regularization"], seed=seed)
    common = _common(prepared, weights, _reported(prepared, values))
    return FactorModel(user_factors=user_factors, item_factors=item_factors, **common), dict(values)


def _train_ease(prepared, values, keep, seed, cache):
    # EASE learns item-item weights from which items users had together (binary: repeat counts in
    # the Gram cost ~12 % NDCG@10 on the power-law benchmark catalogue), then scores each user's
    # event-weighted, recency-weighted history. The Items dataset's categorical values join as extra
    # columns (a user's count of items with each value), so tastes generalise across items of a kind:
    # +2.5 % NDCG@10 on the demo shop's categories.
    weights = _pair_weights(prepared, values, keep, half_life=values.get("ease_half_life"))
    seen = sp.csr_matrix(weights, dtype=bool)
    fitted = _history_fitted(prepared, values, seen)
    gram_key = ("gram", values.get("min_user_history_length_percentile"), values.get("max_user_history_length_percentile"))
    if gram_key not in cache:
        cache[gram_key] = algorithms.gram(_with_tokens(sp.csr_matrix(seen[fitted], dtype=np.float32), prepared.tokens))
    gram = cache[gram_key]
    n_items = seen.shape[1]
    l2 = values["ease_lambda"]
    if isinstance(l2, Relative):
        l2 = float(f"{l2.factor * max(float(gram.diagonal()[:n_items].mean()), 1e-3):.4g}")
    if (gram_key, l2) not in cache:
        cache[(gram_key, l2)] = np.ascontiguousarray(algorithms.fit_ease(gram, l2)[:, :n_items])
    resolved = {**values, "ease_lambda": l2}
    common = _common(prepared, weights, _reported(prepared, resolved))
    return LinearModel(weights=cache[(gram_key, l2)], history=_ease_history(prepared, weights), **common), resolved


def _ease_history(prepared: Prepared, weights: sp.csr_matrix) -> sp.csr_matrix:
    return _with_tokens(_log1p(weights), prepared.tokens)


def _with_tokens(matrix: sp.csr_matrix, tokens: sp.csr_matrix | None) -> sp.csr_matrix:
    """users x (items + item metadata values): each value column sums the user's row over its items."""
    return matrix if tokens is None else sp.hstack([matrix, matrix @ tokens], format="csr", dtype=np.float32)


def _within_percentiles(counts: np.ndarray, low: float, high: float) -> np.ndarray:
    """Mask of the positive ``counts`` between their ``low`` and ``high`` quantiles."""
    active = counts > 0
    if not active.any():
        return active
    lo, hi = np.quantile(counts[active], [low, high])
    return active & (counts >= lo) & (counts <= hi)


def _train_sims(prepared, values, keep, seed, cache):
    weights = prepared.events.matrix(np.ones(len(keep), dtype=np.float32), keep)
    common = _common(prepared, weights, _reported(prepared, values))
    # Users outside the history percentiles and items outside the count percentiles are left out of
    # the co-occurrence counting ("included in the training", as the service describes them).
    users = _history_fitted(prepared, values, common["seen"])
    items = _within_percentiles(common["popularity"], values["min_item_interaction_count_percentile"],
                              values["max_item_interaction_count_percentile"])
    counted = sp.diags(users.astype(np.float32)) @ sp.csr_matrix(common["seen"], dtype=np.float32) @ sp.diags(
        items.astype(np.float32))
    similarity = algorithms.cooccurrence_similarity(
        sp.csr_matrix(counted), popularity_discount=values["popularity_discount_factor"],
        min_count=values["min_cointeraction_count"], keep=MAX_NEIGHBOURS)
    return RelatedItemsModel(similarity=similarity, **common), values


def _train_similar_items(prepared, values, keep, seed, cache):
    weights = prepared.events.matrix(np.ones(len(keep), dtype=np.float32), keep)
    common = _common(prepared, weights, _reported(prepared, values))
    similarity = algorithms.cooccurrence_similarity(
        sp.csr_matrix(common["seen"], dtype=np.float32), popularity_discount=values["popularity_discount_factor"],
        min_count=1, keep=MAX_NEIGHBOURS)
    tokens = prepared.tokens
    if tokens is not None:
        # Each source on a 0..1 scale per item before blending.
        peak = similarity.max(axis=1).toarray().ravel()
        similarity = sp.diags(1.0 / np.where(peak > 0, peak, 1.0)) @ similarity
        metadata = algorithms.metadata_similarity(tokens, keep=MAX_NEIGHBOURS)
        blended = sp.csr_matrix((1.0 - METADATA_WEIGHT) * similarity + METADATA_WEIGHT * metadata)
        similarity = sp.vstack([algorithms.top_neighbours(blended[start:start + 1024].toarray(), MAX_NEIGHBOURS)
                                for start in range(0, blended.shape[0], 1024)], format="csr")
    return RelatedItemsModel(similarity=similarity, **common), values


_TRAINERS = {
    "popularity": _train_popularity,
    "trending": _train_trending,
    "personalization": _train_personalization,
    "sims": _train_sims,
    "similar-items": _train_similar_items,
}
