"""Filters applied in batch inference: which items each request may get [DG:filter-real-time-batch].

``allowed_mask`` evaluates an ItemID filter (parsed by ``personalize_rules.filter_grammar``) for a block of
users, and ``allowed_mask_for_items`` for a block of related-items requests (``CurrentItem`` is each
request's item), against a ``FilterContext`` (the dataset group's data in the model's catalogue order); the
recommender then takes its top N among the allowed items, so filtering happens before truncation, as in the
service.

Emulator choices where the docs are silent: NOT IN and != are the exact negations of IN and = (an item
without a value is "not in" any list); ``=``/``!=`` match a string value or an equal number; a
related-items request has no current user, so its Interactions conditions match no item and its IF
conditions do not hold; ``Items.F IN CurrentItem.G`` matches items sharing one of the current item's
``|``-separated values; the "no interactions for three months" history expiry is not emulated.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_assets.personalize_rules.filter_grammar import Condition, Expression, ParsedFilter, as_number, as_text
from recsys_assets.personalize_rules.limits import RECENT_INTERACTIONS_PER_EVENT_TYPE

class FilterDataError(ValueError):
    """The filter names data the dataset group has none of; the message is the batch job's failureReason."""


_ORDERINGS: dict[str, Callable] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
# Users are evaluated in blocks so temporaries stay a few MB however many users a call covers.
_USER_BLOCK = 2048


def allowed_mask(parsed: ParsedFilter, ctx: FilterContext, user_ids: Sequence[str],
                 filter_values: Sequence[dict | None]) -> np.ndarray:
    """Bool (n_users, n_items) in ``ctx.item_ids`` order: which items each user may be recommended."""
    _check_item_target(parsed)
    if parsed.uses_current_item:
        raise NotImplementedError(
            "CurrentItem filters need the item of a related-items request; user recommendations have none"
        )
    return _mask(parsed, ctx, [str(u) for u in user_ids], None, filter_values)


def allowed_mask_for_items(parsed: ParsedFilter, ctx: FilterContext, item_ids: Sequence[str],
                           filter_values: Sequence[dict | None]) -> np.ndarray:
    """Bool (len(item_ids), n_items) in ``ctx.item_ids`` order: which items each related-items request
    (one input item, the ``CurrentItem``) may return."""
    _check_item_target(parsed)
    return _mask(parsed, ctx, None, [str(i) for i in item_ids], filter_values)


def _check_item_target(parsed: ParsedFilter) -> None:
    if parsed.target != "ItemID":
        raise NotImplementedError(
            f"{parsed.target} filters apply to user segments or action recommendations; "
            "only ItemID filters can be evaluated for item recommendations"
        )


def _mask(parsed: ParsedFilter, ctx: FilterContext, user_ids: list[str] | None, item_ids: list[str] | None,
          filter_values: Sequence[dict | None]) -> np.ndarray:
    """One row per request: a user (``user_ids``) or a current item (``item_ids``)."""
    n_rows = len(user_ids if user_ids is not None else item_ids)
    if len(filter_values) != n_rows:
        raise ValueError(f"got {n_rows} requests but {len(filter_values)} filterValues entries")
    resolved = [parsed.resolve_values(v) for v in filter_values]
    out = np.empty((n_rows, len(ctx.item_ids)), dtype=bool)
    for start in range(0, n_rows, _USER_BLOCK):
        block = slice(start, start + _USER_BLOCK)
        out[block] = _block_mask(parsed, 
            ctx, user_ids and user_ids[block], item_ids and item_ids[block], resolved[block]
        )
    return out


def _block_mask(parsed: ParsedFilter, ctx: FilterContext, user_ids: list[str] | None, item_ids: list[str] | None,
                resolved: list[dict]) -> np.ndarray:
    n_rows, n_items = len(resolved), len(ctx.item_ids)
    included = np.zeros((n_rows, n_items), dtype=bool)
    has_include = np.zeros(n_rows, dtype=bool)
    excluded = np.zeros((n_rows, n_items), dtype=bool)
    for expr in parsed.expressions:
        if expr.if_conditions and user_ids is None:
            continue  # a related-items request has no current user: its IF condition does not hold
        for rows, values in _value_groups(expr, resolved):
            if expr.if_conditions:
                rows = rows[_if_holds(ctx, expr, [user_ids[r] for r in rows], values)]
            if not len(rows):
                continue
            match = _where_mask(ctx, expr, rows, user_ids, item_ids, values)
            rows = slice(None) if len(rows) == n_rows else rows
            if expr.action == "INCLUDE":
                included[rows] |= match
                has_include[rows] = True
            else:
                excluded[rows] |= match
    # (∪ INCLUDE) − (∪ EXCLUDE); requests no INCLUDE expression applies to start from the whole catalogue.
    allowed = ~excluded
    allowed[has_include] &= included[has_include]
    return allowed


def _value_groups(expr: Expression, resolved: list[dict]) -> Iterator[tuple[np.ndarray, dict]]:
    """Users with the same values for the expression's placeholders, evaluated together."""
    names = sorted(expr.placeholders)
    groups: dict[tuple, list[int]] = {}
    for pos, values in enumerate(resolved):
        groups.setdefault(tuple(values.get(n) for n in names), []).append(pos)
    for key, rows in groups.items():
        # Only EXCLUDE expressions can reach here with a value left out (resolve_values rejects the
        # rest), and the service then drops that expression for the request.
        if None not in key:
            yield np.asarray(rows), dict(zip(names, key))


def _values(cond: Condition, values: dict) -> tuple[str, ...]:
    return values[cond.placeholder] if cond.placeholder else cond.values


def _if_holds(ctx: FilterContext, expr: Expression, user_ids: list[str], values: dict) -> np.ndarray:
    holds = np.ones(len(user_ids), dtype=bool)
    for cond in expr.if_conditions:
        users = ctx.user_attributes()
        rows = users.index.get_indexer(user_ids)
        # Users without a Users row (index -1, the appended False) don't satisfy any IF condition.
        holds &= np.append(users.mask(cond.field, cond.op, _values(cond, values)), False)[rows]
    return holds


def _where_mask(ctx: FilterContext, expr: Expression, rows: np.ndarray, user_ids: list[str] | None,
                item_ids: list[str] | None, values: dict) -> np.ndarray:
    """Match of the WHERE clause for the requests ``rows``, broadcastable to (len(rows), n_items)."""
    result = None
    for chain in expr.where:
        chain_mask = None
        for cond in chain:
            vals = _values(cond, values)
            if cond.current_item:
                mask = ctx.current_item_mask(cond.field, cond.op, cond.current_item, [item_ids[r] for r in rows])
            elif cond.dataset == "Items":
                mask = ctx.item_attributes().mask(cond.field, cond.op, vals)
            elif user_ids is None:  # no current user, so no interactions history to match
                mask = np.zeros(len(ctx.item_ids), dtype=bool)
            else:
                types = None if "*" in vals else frozenset(v.lower() for v in vals)
                mask = ctx.recent_interactions().user_items([user_ids[r] for r in rows], types)
            chain_mask = mask if chain_mask is None else chain_mask & mask
        result = chain_mask if result is None else result | chain_mask
    return result


class _Attributes:
    """One dataset's metadata aligned to a row order, with per-field lookups built on first use."""

    def __init__(self, frame: pd.DataFrame, id_column: str, dataset: str, ids: np.ndarray | None = None):
        frame = frame.drop_duplicates(id_column, keep="last")
        keys = pd.Index(frame[id_column].astype(str).to_numpy(dtype=object))
        self.index = keys if ids is None else pd.Index(np.asarray(ids, dtype=str).astype(object))
        self._frame = frame.set_axis(keys).reindex(self.index)
        self._dataset = dataset
        self._columns = {str(c).upper(): c for c in frame.columns}
        self._tokens: dict[str, dict[str, np.ndarray]] = {}
        self._row_tokens: dict[str, list[list[str]]] = {}
        self._numbers: dict[str, np.ndarray] = {}

    def _column(self, fld: str) -> pd.Series:
        if fld not in self._columns:
            raise FilterDataError(f"the filter uses {self._dataset}.{fld} but the {self._dataset} data has no such column")
        return self._frame[self._columns[fld]]

    def row_tokens(self, fld: str) -> list[list[str]]:
        """Each row's `|`-split values of a (multi-valued categorical) field; [] where it is null."""
        if fld not in self._row_tokens:
            values = self._column(fld).to_numpy(dtype=object)
            self._row_tokens[fld] = [[] if pd.isna(v) else as_text(v).split("|") for v in values]
        return self._row_tokens[fld]

    def tokens(self, fld: str) -> dict[str, np.ndarray]:
        """value -> rows holding it, over the `|`-split values of a (multi-valued) categorical field."""
        if fld not in self._tokens:
            parts = self.row_tokens(fld)
            rows = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
            flat = np.array([t for p in parts for t in p], dtype=object)
            groups = pd.Series(rows).groupby(flat).indices if len(flat) else {}
            self._tokens[fld] = {token: rows[pos] for token, pos in groups.items()}
        return self._tokens[fld]

    def numbers(self, fld: str) -> np.ndarray:
        if fld not in self._numbers:
            numeric = pd.to_numeric(self._column(fld), errors="coerce")
            self._numbers[fld] = numeric.to_numpy(dtype=float, na_value=np.nan)
        return self._numbers[fld]

    def mask(self, fld: str, op: str, values: tuple[str, ...]) -> np.ndarray:
        if op in _ORDERINGS:
            # NaN (missing or non-numeric) compares False.
            return _ORDERINGS[op](self.numbers(fld), float(values[0]))
        hit = np.zeros(len(self.index), dtype=bool)
        index = self.tokens(fld)
        for value in values:
            if value in index:
                hit[index[value]] = True
        if op in ("=", "!="):
            number = as_number(values[0])
            if number is not None:
                hit |= self.numbers(fld) == number
        return ~hit if op in ("NOT IN", "!=") else hit


class _RecentInteractions:
    """Per event type, the (user, item) pairs among each user's 100 most recent interactions of that type."""

    _CACHED_TYPE_SETS = 16

    def __init__(self, interactions: pd.DataFrame, item_index: pd.Index):
        self.n_items = len(item_index)
        if "EVENT_TYPE" in interactions:
            event_types = interactions["EVENT_TYPE"].fillna("").astype(str).str.lower().to_numpy(dtype=object)
        else:
            event_types = np.full(len(interactions), "", dtype=object)
        users = interactions["USER_ID"].astype(str).to_numpy(dtype=object)
        items = interactions["ITEM_ID"].astype(str).to_numpy(dtype=object)
        newest_first = np.argsort(-pd.to_numeric(interactions["TIMESTAMP"]).to_numpy(dtype=float), kind="stable")
        recent = pd.DataFrame({"user": users[newest_first], "type": event_types[newest_first], "item": items[newest_first]})
        # Rank before dropping items outside the catalogue: they still occupy a slot of the 100.
        rank = recent.groupby(["user", "type"], sort=False).cumcount().to_numpy()
        recent = recent[rank < RECENT_INTERACTIONS_PER_EVENT_TYPE]
        self.user_index = pd.Index(pd.unique(recent["user"]))
        user_codes = self.user_index.get_indexer(recent["user"])
        item_codes = item_index.get_indexer(recent["item"])
        keys = user_codes.astype(np.int64) * self.n_items + item_codes
        in_catalogue = item_codes >= 0
        self._pairs = {
            t: np.unique(keys[in_catalogue & (recent["type"].to_numpy() == t)]) for t in pd.unique(recent["type"])
        }
        self._matrices: OrderedDict[frozenset | None, sp.csr_matrix] = OrderedDict()

    def _matrix(self, types: frozenset[str] | None) -> sp.csr_matrix:
        """Users x items, True where the user interacted with the item through one of ``types`` (None = any)."""
        if types not in self._matrices:
            chosen = [k for t, k in self._pairs.items() if types is None or t in types]
            keys = np.unique(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)
            self._matrices[types] = sp.csr_matrix(
                (np.ones(len(keys), dtype=bool), (keys // self.n_items, keys % self.n_items)),
                shape=(len(self.user_index), self.n_items),
            )
            # Placeholder event types can vary per request; keep only the most recent few type sets.
            if len(self._matrices) > self._CACHED_TYPE_SETS:
                self._matrices.popitem(last=False)
        self._matrices.move_to_end(types)
        return self._matrices[types]

    def user_items(self, user_ids: list[str], types: frozenset[str] | None) -> np.ndarray:
        rows = self.user_index.get_indexer(user_ids)
        known = rows >= 0
        out = np.zeros((len(user_ids), self.n_items), dtype=bool)
        if known.any():
            out[known] = self._matrix(types)[rows[known]].toarray()
        return out


@dataclass
class FilterContext:
    """The data a filter is evaluated against; lookups are built once per context, on first use."""

    item_ids: np.ndarray  # the model's catalogue order
    interactions: pd.DataFrame  # USER_ID, ITEM_ID, TIMESTAMP[, EVENT_TYPE]
    items: pd.DataFrame | None = None  # ITEM_ID + metadata; categorical values may be "a|b"
    users: pd.DataFrame | None = None  # USER_ID + metadata
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _cached(self, key: str, build: Callable):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def item_attributes(self) -> _Attributes:
        if self.items is None:
            raise FilterDataError("the filter uses Items fields but no Items data was given")
        return self._cached("items", lambda: _Attributes(self.items, "ITEM_ID", "Items", ids=self.item_ids))

    def current_item_mask(self, fld: str, op: str, current_fld: str, current_ids: list[str]) -> np.ndarray:
        """(len(current_ids), n_items): catalogue items whose ``fld`` relates by ``op`` to each current item's
        ``current_fld``. A current item without Items data (or without a value) has nothing to match."""
        catalogue = self.item_attributes()
        every = self._cached("items_by_id", lambda: _Attributes(self.items, "ITEM_ID", "Items"))
        rows = every.index.get_indexer(current_ids)  # -1: no Items row (picks the appended NaN below)
        current_numbers = np.append(every.numbers(current_fld), np.nan)[rows]
        if op in _ORDERINGS:
            return _ORDERINGS[op](catalogue.numbers(fld)[None, :], current_numbers[:, None])
        hit = np.zeros((len(current_ids), len(self.item_ids)), dtype=bool)
        index, current_tokens = catalogue.tokens(fld), every.row_tokens(current_fld)
        for r, row in enumerate(rows):
            for token in current_tokens[row] if row >= 0 else ():
                if token in index:
                    hit[r, index[token]] = True
        if op in ("=", "!="):
            hit |= catalogue.numbers(fld)[None, :] == current_numbers[:, None]
        return ~hit if op in ("NOT IN", "!=") else hit

    def user_attributes(self) -> _Attributes:
        if self.users is None:
            raise FilterDataError("the filter uses CurrentUser fields but no Users data was given")
        return self._cached("users", lambda: _Attributes(self.users, "USER_ID", "Users"))

    def recent_interactions(self) -> _RecentInteractions:
        return self._cached(
            "interactions",
            lambda: _RecentInteractions(self.interactions, pd.Index(np.asarray(self.item_ids, dtype=str).astype(object))),
        )
