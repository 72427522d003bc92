"""From a dataset group's data to what a recipe trains on: the solution's event selection and weights,
interactions as arrays of codes, the Items dataset's categorical values, and the hyperparameter search."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_assets.engine import algorithms
from recsys_assets.engine.repeats import from_newest
from recsys_assets.engine.recipes import hpo
from recsys_assets.engine.recipes.catalogue import EVENTS_CONFIG_RECIPES, PARAMS, Recipe, TrainingError, get_recipe
from recsys_assets.personalize_rules.minimums import minimum_data_problems


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

    @cached_property
    def _in_user_time_order(self) -> np.ndarray:
        # Sorted once: training weighs, splits and builds the repeat sequences from it several times.
        return np.lexsort((np.arange(len(self.user)), self.time, self.user))

    def in_user_time_order(self, keep: np.ndarray | None = None) -> np.ndarray:
        """Indices of the ``keep`` events by user, then time, then input order."""
        order = self._in_user_time_order
        return order if keep is None else order[keep[order]]

    def user_recency(self, half_life: float, keep: np.ndarray | None = None) -> np.ndarray:
        """Each event's weight: 1 for its user's newest ``keep`` event, halving every ``half_life`` of
        that user's events back (events outside ``keep`` get 1)."""
        index = self.in_user_time_order(keep)
        out = np.ones(len(self.user), dtype=np.float32)
        out[index] = 0.5 ** (from_newest(self.user[index]) / half_life)
        return out

    def newest(self, users: np.ndarray, keep: np.ndarray, share: float) -> np.ndarray:
        """Mask of each of ``users``' newest ``share`` of their ``keep`` events: a user with n >= 2
        events gives max(1, round(share n)); one with a single event gives none. Ties in time keep
        the input order."""
        index = self.in_user_time_order(keep & np.isin(self.user, users))
        user = self.user[index]
        starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
        sizes = np.diff(np.r_[starts, len(user)])
        size = np.repeat(sizes, sizes)
        newest_first = np.repeat(starts + sizes, sizes) - 1 - np.arange(len(user))
        held = np.where(size >= 2, np.maximum(1, np.floor(share * size + 0.5)), 0)
        out = np.zeros(len(self.user), dtype=bool)
        out[index[newest_first < held]] = True
        return out


def as_str(column: pd.Series) -> pd.Series:
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
    codes, ids = pd.factorize(as_str(column), sort=True)
    return codes.astype(np.int32), np.asarray(ids, dtype=object)


@dataclass
class Prepared:
    """A solution's recipe, candidates and selected events: everything training needs."""

    recipe: Recipe
    params: dict[str, hpo.Param]
    search: hpo.Search
    events: Events
    tokens: sp.csr_matrix | None  # items x categorical metadata values (Items dataset), if any
    catalogue_size: int  # distinct items of the Interactions and Items datasets (coverage's denominator)


def prepare(recipe_arn: str, data: TrainingData, *, event_type: str | None = None, solution_config: dict | None = None,
            perform_hpo: bool = False, seed: int = 0) -> Prepared:
    """Validate the solution's settings and select its events; TrainingError with the failureReason."""
    recipe = get_recipe(recipe_arn)
    config = solution_config or {}
    if config.get("eventsConfig") and recipe not in EVENTS_CONFIG_RECIPES:
        raise TrainingError(f"eventsConfig is supported only by {' and '.join(r.name for r in EVENTS_CONFIG_RECIPES)}.")
    selected = select_interactions(data.interactions, event_type, config)
    selected, weights = event_weights(selected, config.get("eventsConfig"))
    events = Events.from_frame(selected, weights)
    problems = minimum_data_problems(pd.DataFrame({"USER_ID": events.user}))  # codes count faster than ids
    if problems:
        raise TrainingError(problems[0])
    params = PARAMS[recipe.arn]
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
        catalogue.append(as_str(data.interactions["ITEM_ID"]).unique())
    if data.items is not None:
        catalogue.append(as_str(data.items["ITEM_ID"]).unique())
    catalogue_size = len(pd.unique(np.concatenate(catalogue))) if len(catalogue) > 1 else len(events.item_ids)
    return Prepared(recipe, params, search, events, item_tokens(data.items, events.item_ids), catalogue_size)


def item_tokens(items: pd.DataFrame | None, item_ids: np.ndarray) -> sp.csr_matrix | None:
    """items x "column=value" for the Items dataset's text columns ("a|b" holds two values)."""
    if items is None:
        return None
    columns = [c for c in items.columns if c not in ("ITEM_ID", "CREATION_TIMESTAMP")
               and (pd.api.types.is_string_dtype(items[c]) or pd.api.types.is_object_dtype(items[c]))]
    if not columns:
        return None
    frame = items.assign(ITEM_ID=as_str(items["ITEM_ID"])).drop_duplicates("ITEM_ID", keep="last")
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
