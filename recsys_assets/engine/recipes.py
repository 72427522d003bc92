"""Personalize's custom recipes, trained for real on this machine.

``train`` turns a dataset group's data into a ``Model`` the way a solution version does: it
validates the recipe's hyperparameters, applies the solution's event selection (``eventType``,
``eventValueThreshold``, ``eventsConfig``), holds the data to the documented minimums (failing with
the service's own texts), then fits:

- aws-popularity-count: distinct users per item, the same list for every user, no scores.
- aws-trending-now: the items whose interaction counts grew most from the window before the latest
  ``trend_discovery_frequency`` window to the latest one, then the latest window's count, then
  popularity. Emulator choice: the newest interaction stands for "now" (the service uses the clock),
  so historical data shows the trends it had. No batch inference, as on AWS.
- aws-user-personalization (v1, v2) and aws-personalized-ranking (v1, v2): iALS (implicit-feedback
  matrix factorisation with ``implicit``) on recency-weighted, log-scaled confidences, or EASE (a
  closed-form item-item linear model) when the catalogue has at most ``EASE_MAX_ITEMS`` items.
  Engine hyperparameters (an extension; the service has no such names) pick between them:
  ``algorithm`` (auto | ials | ease), ``ials_regularization``, ``ials_alpha``, ``ease_lambda``; each
  defaults to ``auto``: every combination of their small grids is trained on a validation split (the
  newest 10 % of other users' interactions) and the best NDCG@10 wins. Scores are a softmax over the
  catalogue (UP) or over the ranked list (PR); users the model has not seen get the popularity
  distribution, as the service serves new users popular items.
- aws-sims: item co-occurrence in user histories, discounted by the neighbour's popularity
  (``popularity_discount_factor``), pairs below ``min_cointeraction_count`` dropped, users and items
  outside the history/count percentiles left out of the counting.
- aws-similar-items: co-occurrence similarity blended with the Jaccard similarity of the items'
  categorical metadata (Items dataset) where there is any.

RELATED_ITEMS models fill short lists with popular items and answer unknown items with popular items,
as the service documents. ``item_id_hidden_dim``/``item_metadata_hidden_dim`` (Similar-Items) and ``bptt``
(User-Personalization) shape the service's neural networks, which have no counterpart here: they are
validated and reported, not used. The catalogue is the items in the selected interactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_assets.engine import algorithms, hpo
from recsys_assets.engine.hpo import Param, Relative
from recsys_assets.engine.models import (
    BlendModel,
    FactorModel,
    LinearModel,
    Model,
    PopularityModel,
    RelatedItemsModel,
)
from recsys_assets.engine.validation import minimum_data_problems

__all__ = ["RECIPES", "Model", "Recipe", "TrainingData", "TrainingError", "get_recipe", "train"]

_ARN = "arn:aws:personalize:::"
BLEND = "ials+ease"


@dataclass(frozen=True)
class Recipe:
    name: str
    arn: str
    recipe_type: str
    algorithm_arn: str
    feature_transformation_arn: str | None
    description: str
    batch_input: str | None  # "userId", "userId+itemList", "itemId"; None: no batch inference
    has_scores: bool
    supports_update: bool
    trainer: str = field(repr=False)


def _recipe(name: str, recipe_type: str, feature_transformation: str | None, description: str, *,
            trainer: str, batch_input: str | None = "userId", has_scores: bool = True,
            supports_update: bool = False, algorithm: str | None = None) -> Recipe:
    return Recipe(
        name=name,
        arn=f"{_ARN}recipe/{name}",
        recipe_type=recipe_type,
        algorithm_arn=f"{_ARN}algorithm/{algorithm or name}",
        feature_transformation_arn=feature_transformation and f"{_ARN}feature-transformation/{feature_transformation}",
        description=description,
        batch_input=batch_input,
        has_scores=has_scores,
        supports_update=supports_update,
        trainer=trainer,
    )


# [personalize-api.md §4.1]; recipeType has three documented values, popular-items recipes use
# USER_PERSONALIZATION (documented for Popularity-Count).
POPULARITY_COUNT = _recipe(
    "aws-popularity-count", "USER_PERSONALIZATION", "sims",
    "Recommends the items most users interacted with; a baseline for other recipes.",
    trainer="popularity", has_scores=False,
)
TRENDING_NOW = _recipe(
    "aws-trending-now", "USER_PERSONALIZATION", None,
    "Recommends the items whose interactions grow fastest.",
    trainer="trending", batch_input=None, has_scores=False, algorithm="aws-trending-now-custom",
)
USER_PERSONALIZATION = _recipe(
    "aws-user-personalization", "USER_PERSONALIZATION", None,
    "Personalized item recommendations for each user from their interaction history.",
    trainer="personalization", supports_update=True,
)
USER_PERSONALIZATION_V2 = _recipe(
    "aws-user-personalization-v2", "USER_PERSONALIZATION", None,
    "Personalized item recommendations for each user, favouring recent interactions.",
    trainer="personalization",
)
PERSONALIZED_RANKING = _recipe(
    "aws-personalized-ranking", "PERSONALIZED_RANKING", "JSON-percentile-filtering",
    "Ranks a given list of items for a user.",
    trainer="personalization", batch_input="userId+itemList",
)
PERSONALIZED_RANKING_V2 = _recipe(
    "aws-personalized-ranking-v2", "PERSONALIZED_RANKING", None,
    "Ranks a given list of items for a user, favouring recent interactions.",
    trainer="personalization", batch_input="userId+itemList",
)
SIMS = _recipe(
    "aws-sims", "RELATED_ITEMS", "sims",
    "Items similar to a given item, from co-occurrence in user histories.",
    trainer="sims", batch_input="itemId", has_scores=False,
)
SIMILAR_ITEMS = _recipe(
    "aws-similar-items", "RELATED_ITEMS", None,
    "Items similar to a given item, from co-occurrence and item metadata.",
    trainer="similar-items", batch_input="itemId", has_scores=False,
)
RECIPES: dict[str, Recipe] = {r.arn: r for r in (
    POPULARITY_COUNT, TRENDING_NOW, USER_PERSONALIZATION, USER_PERSONALIZATION_V2,
    PERSONALIZED_RANKING, PERSONALIZED_RANKING_V2, SIMS, SIMILAR_ITEMS,
)}
# Only the v2 recipes take event weights [personalize-api.md §4.2].
_EVENTS_CONFIG_RECIPES = (USER_PERSONALIZATION_V2, PERSONALIZED_RANKING_V2)


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


# --- hyperparameters ----------------------------------------------------------------------------------

_IALS, _EASE, _NONE = frozenset({"ials", BLEND}), frozenset({"ease", BLEND}), frozenset()
_FT = hpo.SECTIONS[1]


def _engine(recency: str) -> dict[str, Param]:
    """The engine's own settings for user-personalization and personalized-ranking.

    iALS: 64 factors (v1's hidden_dimension defaults to 64, not the service's 149: on clustered
    synthetic data 149 factors fit 2-3x slower and scored no better), 15 iterations, confidence
    c = 1 + alpha log(1 + w) for a (user, item) pair's summed event weight w (repeats add confidence
    with diminishing returns). The best regularisation sits near 1.5-5x alpha and drops sharply
    beyond it (the model collapses to popularity), so both are chosen per data set on the grids
    below, which hold the best of both benchmark catalogues. EASE: λ relative to the mean diagonal of
    XᵀX. Recency (when the recipe's recency setting is on): an event's weight halves every half-life
    x the data's time span; 1.0 suits stable tastes, 0.25 drifting ones (±3-15 % NDCG@10 on the
    benchmark catalogues), per algorithm, so a blend can mix them.
    """
    return {
        "algorithm": Param(("auto", "ials", "ease"), "auto", tunable=True, auto=("ials", "ease")),
        "ials_regularization": Param(float, "auto", 1e-4, 1e4, tunable=True, auto=(10.0, 30.0, 100.0), used_by=_IALS),
        "ials_alpha": Param(float, "auto", 0.01, 1e3, tunable=True, auto=(5.0, 20.0), used_by=_IALS),
        "ials_half_life": Param(float, "auto", 0.01, 100.0, tunable=True, auto=(0.25, 1.0), used_by=_IALS,
                                only_if=recency),
        "ease_lambda": Param(float, "auto", 1e-3, 1e7, tunable=True,
                             auto=(Relative(1.0), Relative(4.0), Relative(16.0)), used_by=_EASE),
        "ease_half_life": Param(float, "auto", 0.01, 100.0, tunable=True, auto=(0.25, 1.0), used_by=_EASE,
                                only_if=recency),
        "blend_weight": Param(float, "auto", 0.0, 1.0, tunable=True, auto=(0.3, 0.5, 0.7),
                              used_by=frozenset({BLEND})),
    }


ALS_FACTORS = 64
_HISTORY_PERCENTILES = {
    "min_user_history_length_percentile": Param(float, "0.0", 0.0, 1.0, section=_FT),
    "max_user_history_length_percentile": Param(float, "0.99", 0.0, 1.0, section=_FT),
}
_V1 = {
    "hidden_dimension": Param(int, "64", 32, 256, tunable=True, used_by=_IALS),
    "bptt": Param(int, "32", 2, 32, tunable=True, used_by=_NONE),
    "recency_mask": Param(bool, "true", tunable=True),
    **_engine("recency_mask"), **_HISTORY_PERCENTILES,
}
_V2 = {"apply_recency_bias": Param(bool, "true"), **_engine("apply_recency_bias")}
TREND_WINDOWS = {"30 minutes": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "1 day": 86400}
_PARAMS: dict[str, dict[str, Param]] = {
    POPULARITY_COUNT.arn: {},
    TRENDING_NOW.arn: {"trend_discovery_frequency": Param(tuple(TREND_WINDOWS), "2 hours", section=_FT)},
    USER_PERSONALIZATION.arn: _V1,
    USER_PERSONALIZATION_V2.arn: _V2,
    PERSONALIZED_RANKING.arn: _V1,
    PERSONALIZED_RANKING_V2.arn: _V2,
    SIMS.arn: {
        "popularity_discount_factor": Param(float, "0.5", 0.0, 1.0, tunable=True),
        "min_cointeraction_count": Param(int, "3", 0, 10, tunable=True),
        "min_user_history_length_percentile": Param(float, "0.005", 0.0, 1.0, section=_FT),
        "max_user_history_length_percentile": Param(float, "0.995", 0.0, 1.0, section=_FT),
        "min_item_interaction_count_percentile": Param(float, "0.01", 0.0, 1.0, section=_FT),
        "max_item_interaction_count_percentile": Param(float, "0.9", 0.0, 1.0, section=_FT),
    },
    SIMILAR_ITEMS.arn: {
        "popularity_discount_factor": Param(float, "0.0", 0.0, 1.0),
        "item_id_hidden_dim": Param(int, "100", 30, 200, tunable=True, used_by=_NONE),
        "item_metadata_hidden_dim": Param(int, "100", 30, 200, tunable=True, used_by=_NONE),
    },
}

# Neighbours kept per item for RELATED_ITEMS: enough for numResults' maximum.
MAX_NEIGHBOURS = 500
# Similar-Items: weight of the metadata similarity next to the (row-normalised) co-occurrence one.
METADATA_WEIGHT = 0.3
# Blends tried: of the best BLEND_PAIRS candidates of each algorithm.
BLEND_PAIRS = 2
# Validation split for choosing between candidates: the newest 10 % of up to this many other users.
VALIDATION_SHARE = 0.1
MAX_VALIDATION_USERS = 10_000


# --- the data a solution trains on ---------------------------------------------------------------------

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
        value = _number(threshold, "eventValueThreshold")
        if "EVENT_VALUE" not in selected.columns:
            return selected.iloc[:0]
        selected = selected[pd.to_numeric(selected["EVENT_VALUE"], errors="coerce") >= value]
    return selected


def event_weights(interactions: pd.DataFrame, events_config: dict | None) -> tuple[pd.DataFrame, np.ndarray]:
    """(kept interactions, their weights) under ``eventsConfig.eventParametersList``.

    Each listed event type weighs its ``weight`` (only the ratios matter, so the largest becomes 1)
    and keeps only events with EVENT_VALUE >= its ``eventValueThreshold``. Emulator choice where the
    service is silent: event types the list does not name are left out, as with ``eventType``.
    """
    entries = (events_config or {}).get("eventParametersList") or []
    if not entries:
        return interactions, np.ones(len(interactions), dtype=np.float32)
    if len(entries) > 10:
        raise TrainingError("eventsConfig.eventParametersList takes at most 10 event types.")
    if "EVENT_TYPE" not in interactions.columns:
        return interactions.iloc[:0], np.ones(0, dtype=np.float32)
    weights = np.zeros(len(interactions), dtype=np.float64)
    types = interactions["EVENT_TYPE"].to_numpy(dtype=object)
    values = (pd.to_numeric(interactions["EVENT_VALUE"], errors="coerce").to_numpy(np.float64)
              if "EVENT_VALUE" in interactions.columns else np.full(len(interactions), np.nan))
    for entry in entries:
        weight = _number(entry.get("weight", 1.0), "eventsConfig weight")
        if not 0.0 <= weight <= 1.0:
            raise TrainingError(f"Invalid eventsConfig weight {entry.get('weight')!r}: must be between 0 and 1.")
        match = types == entry.get("eventType")
        if entry.get("eventValueThreshold") is not None:
            match &= values >= _number(entry["eventValueThreshold"], "eventsConfig eventValueThreshold")
        weights[match] = weight
    keep = weights > 0
    return interactions[keep], (weights[keep] / weights.max(initial=0.0)).astype(np.float32)


def _number(text, what: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise TrainingError(f"Invalid {what} {text!r}: must be a number.") from None


@dataclass
class Events:
    """Selected interactions as arrays; users and items are codes into the sorted id arrays."""

    user: np.ndarray
    item: np.ndarray
    time: np.ndarray
    weight: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, weight: np.ndarray) -> Events:
        users, user_ids = _codes(frame["USER_ID"])
        items, item_ids = _codes(frame["ITEM_ID"])
        return cls(users, items, frame["TIMESTAMP"].to_numpy(np.float64), np.asarray(weight, dtype=np.float32),
                   user_ids, item_ids)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    def matrix(self, values: np.ndarray, keep: np.ndarray | None = None) -> sp.csr_matrix:
        """users x items, repeated pairs summed, over the ``keep`` events."""
        if keep is None:
            return sp.csr_matrix((values, (self.user, self.item)), shape=self.shape)
        return sp.csr_matrix((values[keep], (self.user[keep], self.item[keep])), shape=self.shape)

    def recency(self, half_life: float) -> np.ndarray:
        """Each event's weight: 1 for the newest, halving every ``half_life`` x the data's time span."""
        newest = self.time.max()
        span = max(float(newest - self.time.min()), 1.0)
        return (0.5 ** ((newest - self.time) / (half_life * span))).astype(np.float32)

    def newest(self, users: np.ndarray, keep: np.ndarray, share: float) -> np.ndarray:
        """Mask of each of ``users``' newest ``share`` of their ``keep`` events: a user with n >= 2
        events gives max(1, round(share n)); one with a single event gives none. Ties in time keep
        the input order."""
        chosen = keep & np.isin(self.user, users)
        (index,) = np.nonzero(chosen)
        index = index[np.lexsort((index, self.time[index], self.user[index]))]
        user = self.user[index]
        starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
        sizes = np.diff(np.r_[starts, len(user)])
        size = np.repeat(sizes, sizes)
        newest_first = np.repeat(starts + sizes, sizes) - 1 - np.arange(len(user))
        held = np.where(size >= 2, np.maximum(1, np.floor(share * size + 0.5)), 0)
        out = np.zeros(len(self.user), dtype=bool)
        out[index[newest_first < held]] = True
        return out


def _as_str(column: pd.Series) -> pd.Series:
    return column if pd.api.types.is_string_dtype(column) and not column.hasnans else column.astype(str)


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int32 codes, the distinct ids sorted) of an id column."""
    if isinstance(column.dtype, pd.CategoricalDtype) and not column.hasnans:
        categories = column.cat.categories
        # A stored dataset's ids (DataStore): its sorted string categories, less those not selected.
        if pd.api.types.is_string_dtype(categories) and categories.is_monotonic_increasing:
            codes = column.cat.codes.to_numpy()
            used = np.bincount(codes, minlength=len(categories)) > 0
            renumber = (np.cumsum(used) - 1).astype(np.int32)
            return renumber[codes], np.asarray(categories[used], dtype=object)
    codes, ids = pd.factorize(_as_str(column), sort=True)
    return codes.astype(np.int32), np.asarray(ids, dtype=object)


@dataclass
class Prepared:
    """A solution's recipe, candidates and selected events: everything training needs."""

    recipe: Recipe
    params: dict[str, Param]
    search: hpo.Search
    events: Events
    tokens: sp.csr_matrix | None  # items x categorical metadata values (Items dataset), if any
    catalogue_size: int  # distinct items of the Interactions and Items datasets (coverage's denominator)


def prepare(recipe_arn: str, data: TrainingData, *, event_type: str | None = None, solution_config: dict | None = None,
            perform_hpo: bool = False, seed: int = 0) -> Prepared:
    """Validate the solution's settings and select its events; TrainingError with the failureReason."""
    recipe = get_recipe(recipe_arn)
    config = solution_config or {}
    if config.get("eventsConfig") and recipe not in _EVENTS_CONFIG_RECIPES:
        raise TrainingError(f"eventsConfig is supported only by {' and '.join(r.name for r in _EVENTS_CONFIG_RECIPES)}.")
    selected = select_interactions(data.interactions, event_type, config)
    selected, weights = event_weights(selected, config.get("eventsConfig"))
    events = Events.from_frame(selected, weights)
    problems = minimum_data_problems(pd.DataFrame({"USER_ID": events.user}))  # codes count faster than ids
    if problems:
        raise TrainingError(problems[0])
    params = _PARAMS[recipe.arn]
    unavailable = {}
    if len(events.item_ids) > algorithms.EASE_MAX_ITEMS:
        unavailable["algorithm"] = {"ease": (
            f"algorithm ease needs a catalogue of at most {algorithms.EASE_MAX_ITEMS} items; "
            f"this one has {len(events.item_ids)}.")}
    try:
        search = hpo.build_search(params, config, perform_hpo=perform_hpo, seed=seed, unavailable=unavailable)
    except hpo.HyperparameterError as e:
        raise TrainingError(f"{e} (recipe {recipe.name})") from None
    # Coverage's denominator: the items of the Interactions dataset (all of them, not only the
    # selected events') and of the Items dataset.
    catalogue = [events.item_ids]
    if len(selected) < len(data.interactions):
        catalogue.append(_as_str(data.interactions["ITEM_ID"]).unique())
    if data.items is not None:
        catalogue.append(_as_str(data.items["ITEM_ID"]).unique())
    catalogue_size = len(pd.unique(np.concatenate(catalogue))) if len(catalogue) > 1 else len(events.item_ids)
    return Prepared(recipe, params, search, events, _item_tokens(data.items, events.item_ids), catalogue_size)


# --- training --------------------------------------------------------------------------------------

@dataclass
class Fitted:
    model: Model
    values: dict  # the chosen candidate's hyperparameter values


def train(recipe_arn: str, data: TrainingData, *, event_type: str | None = None,
          solution_config: dict | None = None, perform_hpo: bool = False, seed: int = 0) -> Model:
    prepared = prepare(recipe_arn, data, event_type=event_type, solution_config=solution_config,
                       perform_hpo=perform_hpo, seed=seed)
    return fit(prepared, seed=seed).model


def fit(prepared: Prepared, *, exclude: np.ndarray | None = None, seed: int = 0) -> Fitted:
    """Train on the events not in ``exclude``; with several candidates, the best on a validation split.

    The validation users are others than those with excluded events (the metrics' test users), so
    choosing never sees what the metrics measure. When both iALS and EASE were tried, blends of the
    best of each are tried too (no training: they reuse the fits).
    """
    events = prepared.events
    keep = np.ones(len(events.user), dtype=bool) if exclude is None else ~exclude
    candidates = prepared.search.candidates
    values = candidates[0]
    if len(candidates) > 1:
        users, truth = _validation_split(events, keep, seed)
        cache: dict = {}
        tried: list[tuple[float, dict]] = []

        def attempt(trial_values: dict) -> None:
            trial = _fit_candidate(prepared, trial_values, keep & ~truth, seed, cache)
            tried.append((_validation_ndcg(trial, prepared, users, truth), trial_values))

        for candidate in candidates:
            attempt(candidate)
        for blend in _blends(prepared, tried):
            attempt(blend)
        values = max(tried, key=lambda t: t[0])[1]
    fitted = _fit_candidate(prepared, values, keep, seed, {})
    if prepared.search.tuned:
        fitted.model.tuned_hyperparameters = {n: fitted.model.hyperparameters[n] for n in prepared.search.tuned
                                              if n in fitted.model.hyperparameters}
    return fitted


def _blends(prepared: Prepared, tried: list[tuple[float, dict]]) -> list[dict]:
    """Blends of the two best iALS and the two best EASE candidates (the single best of each is often
    not the best pair), at each blend weight."""
    ranked = sorted(tried, key=lambda t: -t[0])
    best = {a: [v for _, v in ranked if v.get("algorithm") == a][:BLEND_PAIRS] for a in ("ials", "ease")}
    given = prepared.search.given["blend_weight"]
    weights = prepared.params["blend_weight"].auto if given == hpo.AUTO else [given]
    return [{**ease, **hpo.relevant(prepared.params, ials), "algorithm": BLEND, "blend_weight": w}
            for ials in best["ials"] for ease in best["ease"] for w in weights]


def complete(fitted: Fitted, prepared: Prepared, exclude: np.ndarray, *, seed: int = 0) -> Model:
    """The model with every event, from ``fitted`` trained without the ``exclude`` events (the
    metrics' held-out truth).

    Matrix factorisation keeps its item factors and solves the affected users' factors from their
    whole history (least squares, implicit's ``recalculate_user``): one fit serves both the metrics and
    the final model. EASE keeps its weights and scores whole histories. The other recipes are cheap
    and retrain on everything.
    """
    model, values = fitted.model, fitted.values
    if not isinstance(model, (FactorModel, LinearModel, BlendModel)):
        return _fit_candidate(prepared, values, np.ones(len(prepared.events.user), dtype=bool), seed, {}).model
    reported = model.hyperparameters, model.tuned_hyperparameters
    if isinstance(model, BlendModel):
        factors = _completed_factors(model.factors, prepared, values, exclude, reported)
        linear = _completed_linear(model.linear, prepared, values, reported)
        return BlendModel(factors=factors, linear=linear, blend_weight=model.blend_weight,
                          **_common(prepared, factors._seen, *reported))
    if isinstance(model, LinearModel):
        return _completed_linear(model, prepared, values, reported)
    return _completed_factors(model, prepared, values, exclude, reported)


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


def _fit_candidate(prepared: Prepared, values: dict, keep: np.ndarray, seed: int, cache: dict) -> Fitted:
    """``cache`` holds fits of this ``keep`` shared between candidates (EASE's Gram and weights, the
    components of blends)."""
    model, resolved = _TRAINERS[prepared.recipe.trainer](prepared, values, keep, seed, cache)
    return Fitted(model, resolved)


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
    """users x items: summed event weights, recency-decayed by ``half_life`` when the recipe's recency
    setting is on."""
    events = prepared.events
    recency = values.get("recency_mask", values.get("apply_recency_bias", False))
    return events.matrix(events.weight * events.recency(half_life) if recency and half_life else events.weight, keep)


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


def _item_tokens(items: pd.DataFrame | None, item_ids: np.ndarray) -> sp.csr_matrix | None:
    """items x "column=value" for the Items dataset's text columns ("a|b" holds two values)."""
    if items is None:
        return None
    columns = [c for c in items.columns if c not in ("ITEM_ID", "CREATION_TIMESTAMP")
               and (pd.api.types.is_string_dtype(items[c]) or pd.api.types.is_object_dtype(items[c]))]
    if not columns:
        return None
    frame = items.assign(ITEM_ID=_as_str(items["ITEM_ID"])).drop_duplicates("ITEM_ID", keep="last")
    row = pd.Index(item_ids).get_indexer(frame["ITEM_ID"])
    pairs = []
    for column in columns:
        values = frame[column].astype("string").str.split("|")
        exploded = pd.DataFrame({"row": row, "token": values}).explode("token").dropna()
        exploded = exploded[(exploded["row"] >= 0) & (exploded["token"].str.strip() != "")]
        pairs.append(pd.DataFrame({"row": exploded["row"], "token": column + "=" + exploded["token"].str.strip()}))
    pairs = pd.concat(pairs, ignore_index=True)
    if pairs.empty:
        return None
    # Values shared by 2+ items say something about similarity; the most common ones first, as many
    # as EASE's size limit leaves room for next to the items.
    pairs = pairs.drop_duplicates()
    counts = pairs["token"].value_counts()
    shared = counts[counts >= 2].index[:max(0, algorithms.EASE_MAX_ITEMS - len(item_ids))]
    pairs = pairs[pairs["token"].isin(shared)]
    if pairs.empty:
        return None
    token_codes = pd.Index(shared).get_indexer(pairs["token"])
    return sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (pairs["row"].to_numpy(), token_codes)),
                         shape=(len(item_ids), len(shared)))


_TRAINERS = {
    "popularity": _train_popularity,
    "trending": _train_trending,
    "personalization": _train_personalization,
    "sims": _train_sims,
    "similar-items": _train_similar_items,
}


# --- choosing between candidates -----------------------------------------------------------------

def _validation_split(events: Events, keep: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation users, mask of their held-out events): the newest 10 % of up to
    MAX_VALIDATION_USERS users with 2+ events, none of whom has events outside ``keep``."""
    counts = np.bincount(events.user[keep], minlength=len(events.user_ids))
    touched = np.zeros(len(events.user_ids), dtype=bool)
    touched[events.user[~keep]] = True
    (users,) = np.nonzero((counts >= 2) & ~touched)
    if len(users) > MAX_VALIDATION_USERS:
        users = np.sort(np.random.default_rng(seed + 1).choice(users, MAX_VALIDATION_USERS, replace=False))
    return users, events.newest(users, keep, VALIDATION_SHARE)


def _validation_ndcg(fitted: Fitted, prepared: Prepared, users: np.ndarray, truth: np.ndarray) -> float:
    # Imported here: metrics imports this module.
    from recsys_assets.engine.metrics import evaluate

    scores = evaluate(fitted.model, prepared, users, truth)
    return scores["normalized_discounted_cumulative_gain_at_10"]
