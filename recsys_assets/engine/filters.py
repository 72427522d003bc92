"""Personalize filter expressions (API reference §6): parsed once at CreateFilter, applied in batch inference.

``parse_filter`` is the CreateFilter check: a bad expression raises ``FilterExpressionError`` whose text is
the InvalidInputException message; ``check_against_datasets`` then holds it to the dataset group's schemas.
``ParsedFilter.allowed_mask`` evaluates an ItemID filter for a block of users, and
``allowed_mask_for_items`` one for a block of related-items requests (``CurrentItem`` is each request's
item), against a ``FilterContext`` (the dataset group's data in the model's catalogue order); the
recommender then takes its top N among the allowed items, so filtering happens before truncation, as in
the service.

Emulator choices where the docs are silent: keywords, targets, dataset and field names are
case-insensitive (fields are reported upper-case); AND binds tighter than OR; NOT IN and != are the exact
negations of IN and = (an item without a value is "not in" any list); ``=``/``!=`` match a string value or
an equal number; ``<``, ``<=``, ``>``, ``>=`` need a numeric field; ``Interactions.EVENT_TYPE`` only takes IN;
a related-items request has no current user, so its Interactions conditions match no item and its IF
conditions do not hold; ``Items.F IN CurrentItem.G`` matches items sharing one of the current item's
``|``-separated values; the "no interactions for three months" history expiry is not emulated.
"""

from __future__ import annotations

import json
import operator
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_assets.engine.validation import DatasetSchema

MAX_EXPRESSION_LENGTH = 2500
MAX_DISTINCT_FIELDS = 10
MAX_DISTINCT_FIELDS_PER_GROUP = 20  # across all filters of a dataset group [DG:limits]
RECENT_INTERACTIONS_PER_EVENT_TYPE = 100
MAX_FILTER_VALUES = 25
MAX_FILTER_VALUE_LENGTH = 1000

_DATASETS = {name.upper(): name for name in ("Items", "Users", "Interactions", "Actions", "Action_Interactions")}
_TARGETS = {name.upper(): name for name in ("ItemID", "UserID", "ActionID")}
_TARGET_DATASETS = {
    "ItemID": ("Items", "Interactions"),
    "UserID": ("Users", "Interactions"),
    "ActionID": ("Actions", "Action_Interactions"),
}
_EVENT_DATASETS = frozenset({"Interactions", "Action_Interactions"})
# Applied by the service itself, never filtered on [DG:filter-expression-guidelines-requirements].
_UNFILTERABLE = frozenset({"Actions.EXPIRATION_TIMESTAMP", "Actions.REPEAT_FREQUENCY"})
_NUMERIC_TYPES = frozenset({"int", "long", "float", "double"})
_OPERATORS = ("IN", "NOT IN", "=", "!=", "<", "<=", ">", ">=")
_ORDERINGS: dict[str, Callable] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_PLACEHOLDER = re.compile(r"\$([A-Za-z0-9_]+)")
_FILTER_VALUE_KEY = re.compile(r"[A-Za-z0-9_]{1,50}")
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | "(?P<string>[^"]*)"
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![A-Za-z_$])
      | (?P<param>\$[A-Za-z0-9_]+)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<op>[<>=!]+)
      | (?P<punct>[(),|*])""",
    re.VERBOSE,
)
# Users are evaluated in blocks so temporaries stay a few MB however many users a call covers.
_USER_BLOCK = 2048


class FilterExpressionError(ValueError):
    """An expression CreateFilter rejects; ``str(e)`` is the service's InvalidInputException message."""


def _invalid(detail: str) -> FilterExpressionError:
    return FilterExpressionError(f"Could not create filter. {detail}")


def _symbol(text: str, detail: str) -> FilterExpressionError:
    return _invalid(f"Invalid input symbol: {text}. {detail}")


@dataclass(frozen=True)
class Condition:
    dataset: str  # Items, Users, Interactions, Actions, Action_Interactions or CurrentUser
    field: str  # upper-case
    op: str  # one of _OPERATORS
    values: tuple[str, ...] = ()  # literal values as written; "*" = any event type
    placeholder: str | None = None  # name without "$"; values come from filterValues
    current_item: str | None = None  # CurrentItem field the condition compares against


@dataclass(frozen=True)
class Expression:
    action: str  # INCLUDE | EXCLUDE
    target: str  # ItemID | UserID | ActionID
    dataset: str
    where: tuple[tuple[Condition, ...], ...]  # OR of AND-chains
    if_conditions: tuple[Condition, ...]

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return tuple(c for chain in self.where for c in chain) + self.if_conditions

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(c.placeholder for c in self.conditions if c.placeholder)


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, param, word, op, punct
    text: str  # a string's content without its quotes

    def keyword(self) -> str | None:
        return self.text.upper() if self.kind == "word" else None

    def shown(self) -> str:
        return f'"{self.text}"' if self.kind == "string" else self.text


def _tokenize(expression: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if m is None:
            raise _symbol(re.match(r"\S+", expression[pos:]).group(), "The filter expression is not well formed.")
        if m.lastgroup != "ws":
            tokens.append(_Token(m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return tokens


class _ExpressionParser:
    """Recursive-descent parser for one ``|``-separated expression (grammar of §6.1)."""

    def __init__(self, tokens: list[_Token]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str) -> _Token:
        tok = self.peek()
        if tok is None:
            raise _invalid(f"Invalid Expression: the expression ends early; expected {expected}.")
        self.pos += 1
        return tok

    def parse(self) -> Expression:
        if not self.tokens:
            raise _symbol("|", "Expected INCLUDE or EXCLUDE before and after each |.")
        tok = self.take("INCLUDE or EXCLUDE")
        action = tok.keyword()
        if action not in ("INCLUDE", "EXCLUDE"):
            raise _symbol(tok.shown(), "An expression starts with INCLUDE or EXCLUDE.")
        tok = self.take("ItemID, UserID or ActionID")
        target = _TARGETS.get(tok.keyword() or "")
        if target is None:
            raise _symbol(tok.shown(), "Expected ItemID, UserID or ActionID after INCLUDE/EXCLUDE.")
        tok = self.take("WHERE")
        if tok.keyword() == "IF":
            raise _invalid("Invalid Expression: IF can only come once, at the end of an expression, after WHERE.")
        if tok.keyword() != "WHERE":
            raise _symbol(tok.shown(), f"Expected WHERE after {target}.")

        chains: list[list[Condition]] = [[]]
        dataset = None
        while True:
            cond = self.condition()
            if cond.dataset == "CurrentUser":
                raise _invalid("Invalid Expression: CurrentUser can only be used in an IF condition at the end of an expression.")
            if dataset is None:
                dataset = cond.dataset
                if dataset not in _TARGET_DATASETS[target]:
                    allowed = " or ".join(_TARGET_DATASETS[target])
                    raise _invalid(f"Invalid Expression: {target} expressions filter on {allowed} data, not {dataset}.")
            elif cond.dataset != dataset:
                raise _invalid(
                    f"Invalid Expression: you can't use {dataset} and {cond.dataset} datasets in one expression; "
                    "combine separate expressions with |."
                )
            chains[-1].append(cond)
            tok = self.peek()
            if tok is None:
                return Expression(action, target, dataset, tuple(map(tuple, chains)), ())
            self.pos += 1
            if tok.keyword() == "OR":
                chains.append([])
            elif tok.keyword() == "IF":
                return Expression(action, target, dataset, tuple(map(tuple, chains)), self.if_clause())
            elif tok.keyword() != "AND":
                raise _symbol(tok.shown(), "Expected AND, OR, IF or the end of the expression.")

    def if_clause(self) -> tuple[Condition, ...]:
        conditions: list[Condition] = []
        while True:
            cond = self.condition()
            if cond.dataset != "CurrentUser":
                if not conditions:
                    raise _invalid("Invalid Expression: IF conditions can only use CurrentUser attributes.")
                raise _invalid("Invalid Expression: IF must be at the end of an expression; only CurrentUser conditions can follow it.")
            conditions.append(cond)
            tok = self.peek()
            if tok is None:
                return tuple(conditions)
            self.pos += 1
            if tok.keyword() == "IF":
                raise _symbol("IF", "An expression can contain only one IF condition.")
            if tok.keyword() == "OR":
                raise _symbol("OR", "IF conditions can only be extended with AND.")
            if tok.keyword() != "AND":
                raise _symbol(tok.shown(), "Expected AND or the end of the expression after an IF condition.")

    def condition(self) -> Condition:
        tok = self.take("a <dataset>.<field> condition")
        parts = tok.text.split(".") if tok.kind == "word" else []
        if len(parts) != 2:
            raise _symbol(tok.shown(), "Expected a condition on <dataset>.<field>, e.g. Items.GENRE.")
        name, fld = parts[0].upper(), parts[1].upper()
        if name == "CURRENTITEM":
            raise _symbol(tok.text, "CurrentItem can only be used as a value, e.g. Items.PRICE < CurrentItem.PRICE.")
        dataset = "CurrentUser" if name == "CURRENTUSER" else _DATASETS.get(name)
        if dataset is None:
            raise _symbol(parts[0], f"Unknown dataset; expected one of {', '.join(_DATASETS.values())}.")
        op = self.operator()
        operands = self.operands()
        return _checked_condition(dataset, fld, op, operands)

    def operator(self) -> str:
        tok = self.take("an operator")
        if tok.keyword() == "NOT":
            nxt = self.take("IN")
            if nxt.keyword() != "IN":
                raise _symbol(nxt.shown(), "Expected IN after NOT.")
            return "NOT IN"
        op = "IN" if tok.keyword() == "IN" else tok.text if tok.kind == "op" else None
        if op not in _OPERATORS:
            raise _symbol(tok.shown(), f"Expected one of {', '.join(_OPERATORS)}.")
        return op

    def operands(self) -> list[_Token]:
        tok = self.take("a value")
        if not (tok.kind == "punct" and tok.text == "("):
            return [self.operand(tok)]
        values = []
        while True:
            values.append(self.operand(self.take("a value")))
            tok = self.take(")")
            if tok.text == ")" and tok.kind == "punct":
                return values
            if not (tok.kind == "punct" and tok.text == ","):
                raise _symbol(tok.shown(), "Expected , or ) in a list of values.")

    @staticmethod
    def operand(tok: _Token) -> _Token:
        if tok.kind == "string" and _PLACEHOLDER.fullmatch(tok.text):
            # The CLI example quotes its placeholder: IN ("$CATEGORY").
            return _Token("param", tok.text)
        if tok.kind in ("string", "number", "param") or (tok.kind == "punct" and tok.text == "*"):
            return tok
        if tok.kind == "word" and tok.text.upper().startswith("CURRENTITEM.") and tok.text.count(".") == 1:
            return _Token("current", tok.text.split(".")[1].upper())
        raise _symbol(tok.shown(), "Expected a quoted value, a number, a $placeholder or CurrentItem.<field>.")


def _checked_condition(dataset: str, fld: str, op: str, operands: list[_Token]) -> Condition:
    """Apply the per-condition rules of §6.1 and build the condition."""
    params = [t for t in operands if t.kind == "param"]
    currents = [t for t in operands if t.kind == "current"]
    is_event_field = dataset in _EVENT_DATASETS and fld == "EVENT_TYPE"
    if (params or currents) and len(operands) > 1:
        raise _symbol(",", "A placeholder or CurrentItem value must be the only value in its list.")
    if params and op == "NOT IN":
        raise _symbol(params[0].text, "Placeholders are not allowed with NOT_IN operator.")
    if any(t.kind == "punct" for t in operands) and not is_event_field:
        raise _symbol("*", "* can only be used with Interactions.EVENT_TYPE.")
    if dataset in _EVENT_DATASETS:
        if fld != "EVENT_TYPE":
            raise _invalid(f"Invalid Expression: {dataset} conditions can only use the EVENT_TYPE field, not {fld}.")
        if op != "IN":
            raise _symbol(op, f"{dataset}.EVENT_TYPE conditions only support the IN operator.")
    if currents and dataset != "Items":
        raise _invalid("Invalid Expression: CurrentItem values can only be compared with Items fields.")
    if op not in ("IN", "NOT IN") and len(operands) > 1:
        raise _symbol(",", f"The {op} operator compares against a single value.")
    if op in _ORDERINGS and operands[0].kind == "string" and _number(operands[0].text) is None:
        raise _invalid(f'Invalid Expression: {op} compares numbers; "{operands[0].text}" is not a number.')
    return Condition(
        dataset=dataset,
        field=fld,
        op=op,
        values=tuple(t.text for t in operands if t.kind not in ("param", "current")),
        placeholder=params[0].text[1:] if params else None,
        current_item=currents[0].text if currents else None,
    )


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _text(value) -> str:
    """A stored or supplied value as the string IN matches against (5.0 read from a CSV is "5")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _qualified(cond: Condition) -> set[str]:
    dataset = "Users" if cond.dataset == "CurrentUser" else cond.dataset
    names = {f"{dataset}.{cond.field}"}
    if cond.current_item:
        names.add(f"Items.{cond.current_item}")
    return names


def parse_filter(expression: str) -> ParsedFilter:
    """Parse and validate a filter expression as CreateFilter does."""
    if not isinstance(expression, str) or not expression.strip():
        raise _invalid("Invalid Expression: the filter expression is empty.")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise _invalid(
            f"Invalid Expression: the filter expression has {len(expression)} characters; "
            f"the maximum is {MAX_EXPRESSION_LENGTH}."
        )
    segments: list[list[_Token]] = [[]]
    for tok in _tokenize(expression):
        if tok.kind == "punct" and tok.text == "|":
            segments.append([])
        else:
            segments[-1].append(tok)
    expressions = tuple(_ExpressionParser(seg).parse() for seg in segments)
    targets = {e.target for e in expressions}
    if len(targets) > 1:
        raise _invalid(f"Invalid Expression: all expressions of a filter must use the same target, not {' and '.join(sorted(targets))}.")
    return ParsedFilter(expression, expressions)


class ParsedFilter:
    def __init__(self, expression: str, expressions: tuple[Expression, ...]):
        self.expression = expression
        self.expressions = expressions
        self.target = expressions[0].target
        conditions = [c for e in expressions for c in e.conditions]
        self._conditions = conditions
        self.placeholders = frozenset(c.placeholder for c in conditions if c.placeholder)
        self.fields = frozenset(name for c in conditions for name in _qualified(c))
        if len(self.fields) > MAX_DISTINCT_FIELDS:
            raise _invalid(
                f"Invalid Expression: a filter can use at most {MAX_DISTINCT_FIELDS} distinct dataset fields; "
                f"this one uses {len(self.fields)}."
            )
        self._include_placeholders = frozenset(p for e in expressions if e.action == "INCLUDE" for p in e.placeholders)
        self._single_placeholders = frozenset(c.placeholder for c in conditions if c.placeholder and c.op not in ("IN", "NOT IN"))
        self._numeric_placeholders = frozenset(c.placeholder for c in conditions if c.placeholder and c.op in _ORDERINGS)

    def __repr__(self) -> str:
        return f"ParsedFilter({self.expression!r})"

    @property
    def uses_current_item(self) -> bool:
        """Whether the filter compares with CurrentItem, which only related-items requests have."""
        return any(c.current_item for c in self._conditions)

    def check_against_datasets(self, schemas: Mapping[str, DatasetSchema]) -> None:
        """Hold the expression to the dataset group's schemas, keyed Items, Users, Interactions, Actions,
        Action_Interactions (CreateFilter needs the datasets to exist).

        A field must be in its dataset's schema; boolean and textual fields can't be filtered on, nor the
        action fields the service applies itself; ``<``, ``<=``, ``>``, ``>=`` need a numeric field.
        """
        available = {name.upper(): schema for name, schema in schemas.items()}
        compared = {name for c in self._conditions if c.op in _ORDERINGS for name in _qualified(c)}
        for qualified in sorted(self.fields):
            dataset, fld = qualified.split(".")
            schema = available.get(dataset.upper())
            if schema is None:
                raise _invalid(f"Invalid Expression: {qualified} needs the dataset group's {dataset} dataset, and it has none.")
            # Every interaction has an event type (empty when the schema has no EVENT_TYPE column), so
            # the common `EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")` works on any schema.
            if dataset in _EVENT_DATASETS and fld == "EVENT_TYPE":
                continue
            declared = {f.name.upper(): f for f in schema.fields}.get(fld)
            if declared is None:
                raise _invalid(f"Invalid Expression: {fld} is not a field of the {dataset} dataset schema.")
            if declared.type == "boolean":
                raise _invalid(f"Invalid Expression: {qualified} is a boolean field; boolean fields can't be used in filters.")
            if declared.textual:
                raise _invalid(f"Invalid Expression: {qualified} is a textual field; textual fields can't be used in filters.")
            if qualified in _UNFILTERABLE:
                raise _invalid(f"Invalid Expression: {qualified} is applied automatically and can't be used in filters.")
            if qualified in compared and declared.type not in _NUMERIC_TYPES:
                raise _invalid(
                    f"Invalid Expression: {qualified} is a {declared.type} field; <, <=, > and >= compare numeric fields."
                )

    def resolve_values(self, filter_values: dict | None) -> dict[str, tuple[str, ...]]:
        """One request's ``filterValues`` as placeholder -> values.

        ValueError for a malformed map or value, and for a placeholder an INCLUDE expression needs but the
        request left out (batch inference reports these as the line's "User error").
        """
        if filter_values is None:
            filter_values = {}
        if not isinstance(filter_values, dict):
            raise ValueError("filterValues must be a JSON object mapping placeholder names to values")
        if len(filter_values) > MAX_FILTER_VALUES:
            raise ValueError(f"filterValues can have at most {MAX_FILTER_VALUES} entries, got {len(filter_values)}")
        resolved = {}
        for key, raw in filter_values.items():
            if not isinstance(key, str) or not _FILTER_VALUE_KEY.fullmatch(key):
                raise ValueError(f"Invalid filterValues key {key!r}: use 1 to 50 characters from A-Z, a-z, 0-9 and _")
            if not isinstance(raw, str) or len(raw) > MAX_FILTER_VALUE_LENGTH:
                raise ValueError(f"filterValues[{key!r}] must be a string of at most {MAX_FILTER_VALUE_LENGTH} characters")
            if key in self.placeholders:
                resolved[key] = self._parse_values(key, raw)
        missing = sorted(self._include_placeholders - resolved.keys())
        if missing:
            raise ValueError(f"Missing filter value for ${missing[0]}: INCLUDE expressions need a value for every placeholder")
        return resolved

    def _parse_values(self, name: str, raw: str) -> tuple[str, ...]:
        def reject(constant):
            raise ValueError(constant)

        try:
            parsed = json.loads(f"[{raw}]", parse_constant=reject)
        except ValueError:
            parsed = None
        if not parsed or any(isinstance(v, bool) or not isinstance(v, (str, int, float)) for v in parsed):
            raise ValueError(
                f"Invalid filter value for ${name}: {raw!r}; give quoted values separated by commas, "
                'e.g. "\\"comedy\\",\\"drama\\""'
            )
        values = tuple(_text(v) for v in parsed)
        if name in self._single_placeholders and len(values) != 1:
            raise ValueError(f"${name} is used with a comparison operator and takes exactly one value, got {len(values)}")
        if name in self._numeric_placeholders and _number(values[0]) is None:
            raise ValueError(f"${name} is compared with <, <=, > or >= and needs a number, got {values[0]!r}")
        return values

    def allowed_mask(self, ctx: FilterContext, user_ids: Sequence[str], filter_values: Sequence[dict | None]) -> np.ndarray:
        """Bool (n_users, n_items) in ``ctx.item_ids`` order: which items each user may be recommended."""
        self._check_item_target()
        if self.uses_current_item:
            raise NotImplementedError(
                "CurrentItem filters need the item of a related-items request; user recommendations have none"
            )
        return self._mask(ctx, [str(u) for u in user_ids], None, filter_values)

    def allowed_mask_for_items(self, ctx: FilterContext, item_ids: Sequence[str],
                               filter_values: Sequence[dict | None]) -> np.ndarray:
        """Bool (len(item_ids), n_items) in ``ctx.item_ids`` order: which items each related-items request
        (one input item, the ``CurrentItem``) may return."""
        self._check_item_target()
        return self._mask(ctx, None, [str(i) for i in item_ids], filter_values)

    def _check_item_target(self) -> None:
        if self.target != "ItemID":
            raise NotImplementedError(
                f"{self.target} filters apply to user segments or action recommendations; "
                "only ItemID filters can be evaluated for item recommendations"
            )

    def _mask(self, ctx: FilterContext, user_ids: list[str] | None, item_ids: list[str] | None,
              filter_values: Sequence[dict | None]) -> np.ndarray:
        """One row per request: a user (``user_ids``) or a current item (``item_ids``)."""
        n_rows = len(user_ids if user_ids is not None else item_ids)
        if len(filter_values) != n_rows:
            raise ValueError(f"got {n_rows} requests but {len(filter_values)} filterValues entries")
        resolved = [self.resolve_values(v) for v in filter_values]
        out = np.empty((n_rows, len(ctx.item_ids)), dtype=bool)
        for start in range(0, n_rows, _USER_BLOCK):
            block = slice(start, start + _USER_BLOCK)
            out[block] = self._block_mask(
                ctx, user_ids and user_ids[block], item_ids and item_ids[block], resolved[block]
            )
        return out

    def _block_mask(self, ctx: FilterContext, user_ids: list[str] | None, item_ids: list[str] | None,
                    resolved: list[dict]) -> np.ndarray:
        n_rows, n_items = len(resolved), len(ctx.item_ids)
        included = np.zeros((n_rows, n_items), dtype=bool)
        has_include = np.zeros(n_rows, dtype=bool)
        excluded = np.zeros((n_rows, n_items), dtype=bool)
        for expr in self.expressions:
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
            raise ValueError(f"the filter uses {self._dataset}.{fld} but the {self._dataset} data has no such column")
        return self._frame[self._columns[fld]]

    def row_tokens(self, fld: str) -> list[list[str]]:
        """Each row's `|`-split values of a (multi-valued categorical) field; [] where it is null."""
        if fld not in self._row_tokens:
            values = self._column(fld).to_numpy(dtype=object)
            self._row_tokens[fld] = [[] if pd.isna(v) else _text(v).split("|") for v in values]
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
            number = _number(values[0])
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
            raise ValueError("the filter uses Items fields but no Items data was given")
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
            raise ValueError("the filter uses CurrentUser fields but no Users data was given")
        return self._cached("users", lambda: _Attributes(self.users, "USER_ID", "Users"))

    def recent_interactions(self) -> _RecentInteractions:
        return self._cached(
            "interactions",
            lambda: _RecentInteractions(self.interactions, pd.Index(np.asarray(self.item_ids, dtype=str).astype(object))),
        )
