"""One database value -> one CSV cell, under one rule set that both export paths apply.

A value is first converted to its field's kind of value (text, an integer, a float, a boolean), then held
to the checks of ``CHECKS``. The row-by-row path (``format_value``) runs each check's Python predicate; the
PostgreSQL COPY path (``export.postgres``) renders the same checks as SQL, in the same order, so both refuse
the same rows for the same reasons. A reason completes "<FIELD> ...".
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Callable

from recsys_assets.personalize_rules.bulk_csv import (
    EPOCH_SECONDS_FIELDS,
    FLOAT_MAX,
    ID_FIELDS,
    ID_MAX_CHARS,
    INT_RANGES,
    MILLISECONDS_ABOVE,
    VALUE_MAX_CHARS,
)
from recsys_assets.personalize_rules.schemas import SchemaField

NULL_REASON = "is empty or NULL"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LINE_BREAKS = {ord("\n"): " ", ord("\r"): " "}
_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class BadValue(ValueError):
    """A value its field can't take: ``reason`` completes "<FIELD> ...", the same for every such value."""

    def __init__(self, reason: str, value=None):
        super().__init__(reason if value is None else f"{reason} (got {show(value)})")
        self.reason = reason


@dataclass(frozen=True)
class Check:
    """A rule a converted value must pass: ``fails`` in Python, ``sql`` over the value's SQL expression
    (None where the SQL value's type already guarantees it).

    ``latest`` is the newest acceptable epoch second (now plus a little clock skew).
    """

    applies: Callable[[SchemaField], bool]
    reason: Callable[[SchemaField], str]
    fails: Callable[[object, SchemaField, int | None], bool]
    sql: Callable[[str, SchemaField, int], str | None]
    shown: Callable[[object], object] = lambda value: value


def _id(f: SchemaField) -> bool:
    return f.name in ID_FIELDS


def _epoch(f: SchemaField) -> bool:
    return f.name in EPOCH_SECONDS_FIELDS


def _characters(text) -> str:
    return f"{len(text)} characters"


# Text is checked after list values are joined and, outside ID fields, line breaks became spaces (the
# import reads one record per line): an ID with a line break is refused, other text keeps its length.
TEXT_CHECKS = (
    Check(_id, lambda f: "contains a line break",
          lambda t, f, latest: "\n" in t or "\r" in t,
          lambda v, f, latest: f"strpos({v}, chr(10)) > 0 OR strpos({v}, chr(13)) > 0", shown=lambda t: None),
    Check(_id, lambda f: f"has more than {ID_MAX_CHARS} characters",
          lambda t, f, latest: len(t) > ID_MAX_CHARS,
          lambda v, f, latest: f"char_length({v}) > {ID_MAX_CHARS}", shown=_characters),
    Check(lambda f: not _id(f) and not f.textual, lambda f: f"has more than {VALUE_MAX_CHARS} characters",
          lambda t, f, latest: len(t) > VALUE_MAX_CHARS,
          lambda v, f, latest: f"char_length({v}) > {VALUE_MAX_CHARS}", shown=_characters),
)
INTEGER_CHECKS = (
    Check(_epoch, lambda f: f"looks like epoch milliseconds; list {f.name} in epoch_milliseconds",
          lambda n, f, latest: n > MILLISECONDS_ABOVE,
          lambda v, f, latest: f"{v} > {MILLISECONDS_ABOVE}"),
    Check(_epoch, lambda f: "is in the future",
          lambda n, f, latest: latest is not None and n > latest,
          lambda v, f, latest: f"{v} > {latest}"),
    # In SQL the value is a bigint, within long's range by its type.
    Check(lambda f: True, lambda f: f"is out of range for {f.type}",
          lambda n, f, latest: not INT_RANGES[f.type][0] <= n <= INT_RANGES[f.type][1],
          lambda v, f, latest: None if f.type == "long" else f"{v} NOT BETWEEN {INT_RANGES[f.type][0]} AND "
                                                              f"{INT_RANGES[f.type][1]}"),
)
FLOAT_CHECKS = (
    Check(lambda f: True, lambda f: f"is out of range for {f.type}",
          lambda x, f, latest: not math.isfinite(x) or abs(x) > FLOAT_MAX[f.type],
          lambda v, f, latest: f"abs({v}) > {FLOAT_MAX[f.type]!r}"),
)
CHECKS = {"string": TEXT_CHECKS, "int": INTEGER_CHECKS, "long": INTEGER_CHECKS, "float": FLOAT_CHECKS,
          "double": FLOAT_CHECKS, "boolean": ()}


def checks_for(f: SchemaField) -> list[Check]:
    return [c for c in CHECKS[f.type] if c.applies(f)]


def format_value(value, field_: SchemaField, *, milliseconds: bool = False, latest: int | None = None) -> str:
    """One CSV cell as Personalize reads it ("" is null); BadValue says why a value can't be one.

    IDs become exact strings; datetimes (naive = UTC) and epoch milliseconds (``milliseconds``)
    become epoch seconds; lists become ``|``-joined categorical values; numeric strings become
    numbers. Timestamps later than ``latest`` (epoch seconds) are refused.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise BadValue("is not valid UTF-8 text") from None
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        if not field_.nullable:
            raise BadValue(NULL_REASON)
        return ""
    converted = _CONVERT[field_.type](value, field_, milliseconds)
    for check in checks_for(field_):
        if check.fails(converted, field_, latest):
            raise BadValue(check.reason(field_), check.shown(converted))
    return _CELL[field_.type](converted)


def show(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def epoch_seconds(value: datetime) -> int:
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # app databases store naive UTC
    return (aware - _EPOCH) // timedelta(seconds=1)


# ---- conversions: what each kind of field makes of a database value ---------------------------------

def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, bytes):  # in a list (a bytea[]); undecodable bytes are refused by _to_text
        return value.decode("utf-8", errors="surrogateescape")
    return str(value)


def _to_text(value, f: SchemaField, milliseconds: bool) -> str:
    if isinstance(value, str) and f.categorical and value.startswith("[") and value.endswith("]"):
        try:
            value = json.loads(value)  # a JSON array column (MariaDB, SQLite)
        except ValueError:
            pass
    if isinstance(value, (list, tuple)):
        if not f.categorical:
            raise BadValue("is a list, but only categorical fields take lists")
        text = "|".join(_text(v) for v in value if v is not None)
    else:
        text = _text(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, surrogate-escaped by the reader
        raise BadValue("is not valid UTF-8 text") from None
    return text if _id(f) else text.translate(_LINE_BREAKS)


def _decimal(value) -> Decimal:
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise BadValue("is not a number", value) from None
    if not number.is_finite():
        raise BadValue("is not a finite number", value)
    return number


def _to_integer(value, f: SchemaField, milliseconds: bool) -> int:
    if isinstance(value, str) and not _NUMERIC.fullmatch(value.strip()):
        try:
            value = datetime.fromisoformat(value.strip())  # SQLite keeps DATETIME columns as ISO text
        except ValueError:
            raise BadValue("is neither a number nor a datetime", value) from None
    if isinstance(value, datetime):
        return epoch_seconds(value)
    if isinstance(value, date):
        return epoch_seconds(datetime(value.year, value.month, value.day))
    if type(value) is int:
        number = value
    else:
        exact = _decimal(int(value) if isinstance(value, bool) else value)
        if exact != exact.to_integral_value():
            raise BadValue("is not a whole number", value)
        number = int(exact)
    return number // 1000 if milliseconds else number


def _to_float(value, f: SchemaField, milliseconds: bool) -> float:
    return float(value) if isinstance(value, float) else float(_decimal(value))


def _to_boolean(value, f: SchemaField, milliseconds: bool) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise BadValue("is not true or false", value)


_CONVERT = {"string": _to_text, "int": _to_integer, "long": _to_integer, "float": _to_float,
            "double": _to_float, "boolean": _to_boolean}
_CELL = {"string": str, "int": str, "long": str, "float": repr, "double": repr,
         "boolean": lambda b: "true" if b else "false"}
