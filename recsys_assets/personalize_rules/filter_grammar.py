"""The filter-expression language of CreateFilter, and a request's filterValues [DG:filter-expressions].

Sources: [DG:creating-filter-expressions], [DG:filter-expression-guidelines-requirements]
(https://docs.aws.amazon.com/personalize/latest/dg/filter-expressions.html). ``parse_filter`` is the
CreateFilter check: a bad expression raises ``FilterExpressionError`` whose text is the InvalidInputException
message. ``ParsedFilter.resolve_values`` is the per-request check of ``filterValues``. How an expression holds
against a dataset group's schemas is ``filter_checks``; how it is evaluated is the local engine's business.

Choices where the docs are silent: keywords, targets, dataset and field names are case-insensitive (fields
are reported upper-case); AND binds tighter than OR; ``Interactions.EVENT_TYPE`` only takes IN; ``<``,
``<=``, ``>``, ``>=`` compare with a number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from recsys_assets.personalize_rules.limits import (
    MAX_FIELDS_PER_FILTER,
    MAX_FILTER_EXPRESSION_CHARS,
    MAX_FILTER_VALUE_CHARS,
    MAX_FILTER_VALUES,
)

_DATASETS = {name.upper(): name for name in ("Items", "Users", "Interactions", "Actions", "Action_Interactions")}
_TARGETS = {name.upper(): name for name in ("ItemID", "UserID", "ActionID")}
_TARGET_DATASETS = {
    "ItemID": ("Items", "Interactions"),
    "UserID": ("Users", "Interactions"),
    "ActionID": ("Actions", "Action_Interactions"),
}
EVENT_DATASETS = frozenset({"Interactions", "Action_Interactions"})
_OPERATORS = ("IN", "NOT IN", "=", "!=", "<", "<=", ">", ">=")
ORDERINGS = ("<", "<=", ">", ">=")
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

class FilterExpressionError(ValueError):
    """An expression CreateFilter rejects; ``str(e)`` is the service's InvalidInputException message."""


def filter_error(detail: str) -> FilterExpressionError:
    return FilterExpressionError(f"Could not create filter. {detail}")


def _symbol(text: str, detail: str) -> FilterExpressionError:
    return filter_error(f"Invalid input symbol: {text}. {detail}")


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
            raise filter_error(f"Invalid Expression: the expression ends early; expected {expected}.")
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
            raise filter_error("Invalid Expression: IF can only come once, at the end of an expression, after WHERE.")
        if tok.keyword() != "WHERE":
            raise _symbol(tok.shown(), f"Expected WHERE after {target}.")

        chains: list[list[Condition]] = [[]]
        dataset = None
        while True:
            cond = self.condition()
            if cond.dataset == "CurrentUser":
                raise filter_error("Invalid Expression: CurrentUser can only be used in an IF condition at the end of an expression.")
            if dataset is None:
                dataset = cond.dataset
                if dataset not in _TARGET_DATASETS[target]:
                    allowed = " or ".join(_TARGET_DATASETS[target])
                    raise filter_error(f"Invalid Expression: {target} expressions filter on {allowed} data, not {dataset}.")
            elif cond.dataset != dataset:
                raise filter_error(
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
                    raise filter_error("Invalid Expression: IF conditions can only use CurrentUser attributes.")
                raise filter_error("Invalid Expression: IF must be at the end of an expression; only CurrentUser conditions can follow it.")
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
    is_event_field = dataset in EVENT_DATASETS and fld == "EVENT_TYPE"
    if (params or currents) and len(operands) > 1:
        raise _symbol(",", "A placeholder or CurrentItem value must be the only value in its list.")
    if params and op == "NOT IN":
        raise _symbol(params[0].text, "Placeholders are not allowed with NOT_IN operator.")
    if any(t.kind == "punct" for t in operands) and not is_event_field:
        raise _symbol("*", "* can only be used with Interactions.EVENT_TYPE.")
    if dataset in EVENT_DATASETS:
        if fld != "EVENT_TYPE":
            raise filter_error(f"Invalid Expression: {dataset} conditions can only use the EVENT_TYPE field, not {fld}.")
        if op != "IN":
            raise _symbol(op, f"{dataset}.EVENT_TYPE conditions only support the IN operator.")
    if currents and dataset != "Items":
        raise filter_error("Invalid Expression: CurrentItem values can only be compared with Items fields.")
    if op not in ("IN", "NOT IN") and len(operands) > 1:
        raise _symbol(",", f"The {op} operator compares against a single value.")
    if op in ORDERINGS and operands[0].kind == "string" and as_number(operands[0].text) is None:
        raise filter_error(f'Invalid Expression: {op} compares numbers; "{operands[0].text}" is not a number.')
    return Condition(
        dataset=dataset,
        field=fld,
        op=op,
        values=tuple(t.text for t in operands if t.kind not in ("param", "current")),
        placeholder=params[0].text[1:] if params else None,
        current_item=currents[0].text if currents else None,
    )


def as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def as_text(value) -> str:
    """A stored or supplied value as the string IN matches against (5.0 read from a CSV is "5")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def qualified_fields(cond: Condition) -> set[str]:
    dataset = "Users" if cond.dataset == "CurrentUser" else cond.dataset
    names = {f"{dataset}.{cond.field}"}
    if cond.current_item:
        names.add(f"Items.{cond.current_item}")
    return names


def parse_filter(expression: str) -> ParsedFilter:
    """Parse and validate a filter expression as CreateFilter does."""
    if not isinstance(expression, str) or not expression.strip():
        raise filter_error("Invalid Expression: the filter expression is empty.")
    if len(expression) > MAX_FILTER_EXPRESSION_CHARS:
        raise filter_error(
            f"Invalid Expression: the filter expression has {len(expression)} characters; "
            f"the maximum is {MAX_FILTER_EXPRESSION_CHARS}."
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
        raise filter_error(f"Invalid Expression: all expressions of a filter must use the same target, not {' and '.join(sorted(targets))}.")
    return ParsedFilter(expression, expressions)


class ParsedFilter:
    def __init__(self, expression: str, expressions: tuple[Expression, ...]):
        self.expression = expression
        self.expressions = expressions
        self.target = expressions[0].target
        conditions = [c for e in expressions for c in e.conditions]
        self.conditions = conditions
        self.placeholders = frozenset(c.placeholder for c in conditions if c.placeholder)
        self.fields = frozenset(name for c in conditions for name in qualified_fields(c))
        if len(self.fields) > MAX_FIELDS_PER_FILTER:
            raise filter_error(
                f"Invalid Expression: a filter can use at most {MAX_FIELDS_PER_FILTER} distinct dataset fields; "
                f"this one uses {len(self.fields)}."
            )
        self._include_placeholders = frozenset(p for e in expressions if e.action == "INCLUDE" for p in e.placeholders)
        self._single_placeholders = frozenset(c.placeholder for c in conditions if c.placeholder and c.op not in ("IN", "NOT IN"))
        self._numeric_placeholders = frozenset(c.placeholder for c in conditions if c.placeholder and c.op in ORDERINGS)

    def __repr__(self) -> str:
        return f"ParsedFilter({self.expression!r})"

    @property
    def uses_current_item(self) -> bool:
        """Whether the filter compares with CurrentItem, which only related-items requests have."""
        return any(c.current_item for c in self.conditions)

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
            if not isinstance(raw, str) or len(raw) > MAX_FILTER_VALUE_CHARS:
                raise ValueError(f"filterValues[{key!r}] must be a string of at most {MAX_FILTER_VALUE_CHARS} characters")
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
        values = tuple(as_text(v) for v in parsed)
        if name in self._single_placeholders and len(values) != 1:
            raise ValueError(f"${name} is used with a comparison operator and takes exactly one value, got {len(values)}")
        if name in self._numeric_placeholders and as_number(values[0]) is None:
            raise ValueError(f"${name} is compared with <, <=, > or >= and needs a number, got {values[0]!r}")
        return values

