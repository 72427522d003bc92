"""Personalize's data rules: Avro schemas per dataset type, CSV content, minimum training data.

Shared by the engine (CreateSchema, CreateDataset, import jobs, training) and by the pipeline's
asset checks, so data is held to the same rules before any money is spent as Personalize applies.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from itertools import compress, islice
from typing import BinaryIO, Callable, Iterator

import numpy as np
import pandas as pd

# [DG:limits] Failure texts are the service's own.
MIN_INTERACTIONS = 1000
MIN_USERS_WITH_TWO = 25
MIN_SHARE_WITH_TWO = 0.01


def minimum_data_problems(interactions: pd.DataFrame) -> list[str]:
    """The documented minimum-data rules for training, as failure texts (empty when all hold).

    ``interactions`` has at least USER_ID, already filtered by eventType/eventValueThreshold.
    """
    problems = []
    if len(interactions) < MIN_INTERACTIONS:
        problems.append(
            f"Create failed. Dataset has fewer than {MIN_INTERACTIONS} interactions "
            f"(found {len(interactions)})."
        )
    per_user = interactions["USER_ID"].value_counts()
    with_two = int((per_user >= 2).sum())
    if with_two < MIN_USERS_WITH_TWO:
        problems.append(
            f"Create failed. Dataset has fewer than {MIN_USERS_WITH_TWO} users with at least 2 interactions each."
        )
    elif len(per_user) and with_two < MIN_SHARE_WITH_TWO * len(per_user):
        problems.append(
            "Create failed. Fewer than 1% of users have at least 2 interactions each "
            f"({with_two} of {len(per_user)})."
        )
    return problems


# ---------------------------------------------------------------------------------------------
# Schemas: CreateSchema (parse_schema) and CreateDataset (check_schema_for_dataset_type).

MAX_SCHEMA_CHARS = 20000  # [BC] CreateSchema.schema
MAX_FIELD_NAME_CHARS = 150  # [BC] ColumnName
PRIMITIVE_TYPES = ("string", "int", "long", "float", "double", "boolean")
# Boolean schema attributes; each may only be set on a string field.
_FLAG_ATTRIBUTES = ("categorical", "textual", "itemName")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SchemaValidationError(ValueError):
    """A schema rule is broken; the message is the InvalidInputException text and names the field."""


@dataclass(frozen=True)
class SchemaField:
    name: str
    type: str  # the non-null Avro type, one of PRIMITIVE_TYPES
    nullable: bool
    categorical: bool = False
    textual: bool = False


@dataclass(frozen=True)
class DatasetSchema:
    name: str  # the Avro record name
    fields: tuple[SchemaField, ...]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> SchemaField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"schema {self.name!r} has no field {name!r}")


@dataclass(frozen=True)
class _Column:
    """A required field or reserved keyword of one dataset type [DG:custom-datasets-and-schemas]."""

    type: str
    required: bool = False
    nullable: bool = False  # whether the schema may declare it nullable (required fields never)


@dataclass(frozen=True)
class _DatasetRules:
    api_name: str  # the datasetType spelling of the API and of the failure texts
    record_name: str  # the canonical Avro record name of every AWS example
    columns: dict[str, _Column]
    min_metadata: int
    max_metadata: int  # metadata = fields that are neither required nor reserved [DG:limits]
    max_textual: int = 0


_REQUIRED_STRING = _Column("string", required=True)
_REQUIRED_LONG = _Column("long", required=True)
_NULLABLE_STRING = _Column("string", nullable=True)
_NULLABLE_LONG = _Column("long", nullable=True)

_RULES = {
    "INTERACTIONS": _DatasetRules(
        "Interactions",
        "Interactions",
        {
            "USER_ID": _REQUIRED_STRING,
            "ITEM_ID": _REQUIRED_STRING,
            "TIMESTAMP": _REQUIRED_LONG,
            "EVENT_TYPE": _Column("string"),
            "EVENT_VALUE": _Column("float", nullable=True),
            "IMPRESSION": _NULLABLE_STRING,
            "RECOMMENDATION_ID": _NULLABLE_STRING,
            "EVENT_ATTRIBUTION_SOURCE": _NULLABLE_STRING,
        },
        min_metadata=0,
        max_metadata=5,
    ),
    "ITEMS": _DatasetRules(
        "Items",
        "Items",
        {"ITEM_ID": _REQUIRED_STRING, "CREATION_TIMESTAMP": _Column("long")},
        min_metadata=1,
        max_metadata=100,
        max_textual=1,
    ),
    "USERS": _DatasetRules("Users", "Users", {"USER_ID": _REQUIRED_STRING}, min_metadata=1, max_metadata=25),
    "ACTIONS": _DatasetRules(
        "Actions",
        "Actions",
        {
            "ACTION_ID": _REQUIRED_STRING,
            "CREATION_TIMESTAMP": _Column("long"),
            "VALUE": _NULLABLE_LONG,
            "TYPE": _NULLABLE_STRING,
            "EXPIRATION_TIMESTAMP": _NULLABLE_LONG,
            "REPEAT_FREQUENCY": _NULLABLE_LONG,
        },
        min_metadata=1,
        max_metadata=10,
    ),
    "ACTION_INTERACTIONS": _DatasetRules(
        "Action_Interactions",
        "ActionInteractions",
        {
            "USER_ID": _REQUIRED_STRING,
            "ACTION_ID": _REQUIRED_STRING,
            "EVENT_TYPE": _REQUIRED_STRING,
            "TIMESTAMP": _REQUIRED_LONG,
            "IMPRESSION": _NULLABLE_STRING,
            "RECOMMENDATION_ID": _NULLABLE_STRING,
        },
        min_metadata=0,
        max_metadata=5,
    ),
}
DATASET_TYPES = tuple(_RULES)


def _rules(dataset_type: str) -> _DatasetRules:
    try:
        return _RULES[dataset_type.upper()]
    except KeyError:
        valid = ", ".join(r.api_name for r in _RULES.values())
        message = f"Invalid datasetType {dataset_type!r}; expected one of {valid}."
        raise SchemaValidationError(message) from None


def dataset_label(dataset_type: str) -> str:
    """The API's spelling of a dataset type (``ITEMS`` -> ``Items``), as filter expressions name datasets."""
    return _rules(dataset_type).api_name


def parse_schema(schema_json: str) -> DatasetSchema:
    """Check the CreateSchema-time rules (those that hold for every dataset type) and parse.

    An Avro ``record`` with a ``name`` and flat ``fields``, each a primitive type or a two-member union
    with ``"null"``; names unique after dropping underscores and case (emulator choice for the
    case: PutEvents maps camelCase property keys onto CONSTANT_CASE columns, so ``itemPrice`` and
    ``ITEM_PRICE`` would collide); ``categorical``/``textual``/``itemName`` are booleans on string
    fields. Unknown attributes (``doc``, ``default``, ``namespace``, ``version``) are ignored.
    """
    if len(schema_json) > MAX_SCHEMA_CHARS:
        raise SchemaValidationError(
            f"Invalid schema: {len(schema_json)} characters, more than the maximum of {MAX_SCHEMA_CHARS}."
        )
    try:
        doc = json.loads(schema_json)
    except json.JSONDecodeError as e:
        raise SchemaValidationError(f"Invalid schema: not valid JSON ({e}).") from None
    if not isinstance(doc, dict) or doc.get("type") != "record":
        raise SchemaValidationError('Invalid schema: the top level must be an Avro "record".')
    name, raw_fields = doc.get("name"), doc.get("fields")
    if not isinstance(name, str) or not name:
        raise SchemaValidationError('Invalid schema: the record needs a "name".')
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SchemaValidationError('Invalid schema: the record needs a non-empty "fields" list.')
    fields = tuple(_parse_field(raw, position) for position, raw in enumerate(raw_fields, 1))
    seen: dict[str, str] = {}
    for f in fields:
        key = f.name.replace("_", "").upper()
        if key in seen:
            raise SchemaValidationError(
                f"Invalid schema: fields {seen[key]} and {f.name} have the same name alphanumerically; "
                "field names must be unique ignoring underscores and case."
            )
        seen[key] = f.name
    return DatasetSchema(name=name, fields=fields)


def _parse_field(raw: object, position: int) -> SchemaField:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise SchemaValidationError(f'Invalid schema: field #{position} must be an object with a "name".')
    name = raw["name"]
    if not _FIELD_NAME.fullmatch(name) or len(name) > MAX_FIELD_NAME_CHARS:
        raise SchemaValidationError(
            f"Invalid schema: field name {name!r} must match [A-Za-z_][A-Za-z0-9_]* "
            f"and have at most {MAX_FIELD_NAME_CHARS} characters."
        )
    avro_type = raw.get("type")
    nullable = isinstance(avro_type, list)  # the only union allowed is [<primitive>, "null"]
    non_null = [m for m in avro_type if m != "null"] if nullable else [avro_type]
    if (nullable and len(avro_type) != 2) or len(non_null) != 1 or non_null[0] not in PRIMITIVE_TYPES:
        raise SchemaValidationError(
            f"Invalid schema: field {name} has type {json.dumps(avro_type)}; use one of "
            f'{", ".join(PRIMITIVE_TYPES)} or a union of one of them with "null" '
            "(arrays, maps, records and enums are not supported)."
        )
    base = non_null[0]
    for attribute in _FLAG_ATTRIBUTES:
        value = raw.get(attribute, False)
        if not isinstance(value, bool):
            raise SchemaValidationError(f"Invalid schema: field {name}: {attribute!r} must be true or false.")
        if value and base != "string":
            raise SchemaValidationError(
                f"Invalid schema: field {name} is {attribute} but of type {base}; only string fields can be."
            )
    return SchemaField(name, base, nullable, raw.get("categorical", False), raw.get("textual", False))


def check_schema_for_dataset_type(schema: DatasetSchema, dataset_type: str) -> None:
    """Check the CreateDataset-time rules: does ``schema`` fit ``dataset_type`` (case-insensitive)?

    The record name must be the type's canonical name (Interactions, Items, Users, Actions,
    ActionInteractions). The docs say the name "must match the dataset type" without saying where it
    is enforced; the emulator enforces it here (emulator choice). Required fields must be present with
    exactly their type and not nullable; reserved keywords, if present, must have their type and may be
    nullable only where the docs show ``null``; neither may be categorical or textual (the docs forbid
    categorical reserved strings such as EVENT_TYPE; the emulator extends that to the ID fields).
    Metadata fields (all others) are counted against the per-type limits of [DG:limits].
    """
    rules = _rules(dataset_type)
    label = rules.api_name
    if schema.name != rules.record_name:
        raise SchemaValidationError(
            f"Schema record name {schema.name!r} does not match dataset type {label}; "
            f"expected {rules.record_name!r}."
        )
    for name, column in rules.columns.items():
        try:
            f = schema.field(name)
        except KeyError:
            if column.required:
                raise SchemaValidationError(
                    f"{label} schema is missing the required field {name} (type {column.type})."
                ) from None
            continue
        role = "required field" if column.required else "reserved keyword"
        if f.type != column.type:
            raise SchemaValidationError(
                f"{label} schema: {role} {name} must be of type {column.type}, not {f.type}."
            )
        if f.nullable and not column.nullable:
            raise SchemaValidationError(f"{label} schema: {role} {name} cannot be nullable.")
        if f.categorical or f.textual:
            raise SchemaValidationError(f"{label} schema: {role} {name} cannot be categorical or textual.")
    metadata = [f.name for f in schema.fields if f.name not in rules.columns]
    if len(metadata) < rules.min_metadata:
        raise SchemaValidationError(
            f"{label} schema needs at least {rules.min_metadata} metadata field besides the required "
            f"and reserved fields ({', '.join(rules.columns)})."
        )
    if len(metadata) > rules.max_metadata:
        raise SchemaValidationError(
            f"{label} schema has {len(metadata)} metadata fields ({', '.join(metadata)}); "
            f"the maximum is {rules.max_metadata}."
        )
    textual = [f.name for f in schema.fields if f.textual]
    if len(textual) > rules.max_textual:
        allowed = (
            f"at most {rules.max_textual} textual field is allowed"
            if rules.max_textual
            else "textual fields are only allowed in Items schemas"
        )
        raise SchemaValidationError(f"{label} schema: {allowed} (found {', '.join(textual)}).")


def check_schema_replacement(current: DatasetSchema, new: DatasetSchema) -> None:
    """Check the UpdateDataset-time rule: may ``new`` replace ``current`` for the data already imported?

    The guide only says a replacement adds columns (new metadata to train or filter on). The emulator
    reads that strictly (emulator choice): every current field stays with the same type, nullability
    and ``categorical``/``textual`` flags, and an added field must be nullable, since the records
    already imported have no value for it.
    """
    for old in current.fields:
        try:
            f = new.field(old.name)
        except KeyError:
            raise SchemaValidationError(
                f"The new schema drops the field {old.name}; a replacement schema must keep every field "
                "of the dataset's current schema."
            ) from None
        if f != old:
            raise SchemaValidationError(
                f"The new schema changes the field {old.name}; a replacement schema must keep each current "
                "field's type, nullability and categorical/textual attributes."
            )
    for f in new.fields:
        if f.name not in current.field_names and not f.nullable:
            raise SchemaValidationError(
                f"The new schema adds the field {f.name} without null in its type; records already imported "
                "have no value for it, so an added field must be nullable."
            )


# ---------------------------------------------------------------------------------------------
# Bulk CSV: the import job's reading and checking of one file.

ID_FIELDS = ("USER_ID", "ITEM_ID", "ACTION_ID")
ID_MAX_CHARS = 256
VALUE_MAX_CHARS = 1000  # categorical (pipes included) and other strings
TEXTUAL_MAX_CHARS = 20000  # truncated, not failed (the 7,000 for Chinese/Japanese is not applied)
EPOCH_SECONDS_FIELDS = ("TIMESTAMP", "CREATION_TIMESTAMP")
MILLISECONDS_ABOVE = 10**11  # year 5138 in seconds, but 1973 in milliseconds
_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_FLOAT_MAX = {"float": float(np.finfo(np.float32).max), "double": float(np.finfo(np.float64).max)}
# The characters a number may be written with; parsing then rejects bad arrangements ("1-2", "e").
# Keeping to ASCII shuts out what the parsers would also take: spaces, "nan", "inf", other scripts' digits.
_INT_CHARS = "+-0123456789"
_FLOAT_CHARS = _INT_CHARS + ".eE"
_NUMBER_CHARS = {"int": _INT_CHARS, "long": _INT_CHARS, "float": _FLOAT_CHARS, "double": _FLOAT_CHARS}
_STRINGS = np.dtypes.StringDType()  # np.strings functions loop in C over these
_SHOWN_VALUE_CHARS = 50
_FORMAT_GUIDELINES = (
    "If no values exceed the character limit, make sure your data follows the formatting guidelines "
    "listed in https://docs.aws.amazon.com/personalize/latest/dg/data-prep-formatting.html."
)


class DataValidationError(ValueError):
    """A CSV breaks a data rule; the message is the import job's failureReason.

    ``row`` is the 1-based line number in the file (the header is line 1), ``column`` the column name;
    either is None when the problem is not about one row or column.
    """

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.row = row
        self.column = column


def read_dataset_csv(
    stream: BinaryIO,
    schema: DatasetSchema,
    dataset_type: str,
    *,
    source: str,
    chunksize: int | None = None,
) -> pd.DataFrame | Iterator[pd.DataFrame]:
    """Read and check a bulk-import CSV as the import job does; the first problem raises DataValidationError.

    Returns the schema's columns in schema order: string -> object (str, None for null), int/long ->
    Int64, float/double -> float64 (NaN for null), boolean -> object (True/False/None). With
    ``chunksize``, an iterator of frames of at most that many records whose index continues across
    chunks (at least one frame, empty for a header-only file); header problems raise at the call.

    Parsing: UTF-8 (a BOM is allowed), RFC 4180 quoting, plus backslash escapes inside quotes as the
    docs prescribe for textual data (``\\"`` and ``\\\\``); a backslash escapes the next character
    anywhere. Columns are matched by header name. Emulator choices for undocumented cases: columns not
    in the schema fail the job (strict), blank lines are skipped, a field with a line break fails
    (the docs require one record per line), booleans are ``true``/``false`` in any case.
    Problems are reported in file order, except that malformed quoting raises when it is read.
    """
    if chunksize is not None and chunksize < 1:
        raise ValueError(f"chunksize must be positive, not {chunksize}")
    reader = _CsvReader(stream, schema, _rules(dataset_type).api_name, source)
    chunks = reader.chunks(chunksize)
    if chunksize is not None:
        return chunks
    frame = next(chunks)
    chunks.close()
    return frame


class _CsvReader:
    def __init__(self, stream: BinaryIO, schema: DatasetSchema, label: str, source: str):
        self.schema, self.label, self.source = schema, label, source
        # utf-8-sig drops a leading BOM; newline="" leaves line endings to the csv module.
        self.text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        self.rows = csv.reader(self.text, escapechar="\\", doublequote=True, strict=True)
        try:
            self.header = self._read_header()
        except BaseException:
            self.text.detach()
            raise

    def fail(self, text: str, *, row: int | None = None, column: str | None = None) -> DataValidationError:
        where = [self.source]
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column {column}")
        message = f"Failed to create a data import job for {self.label} dataset. {', '.join(where)}: {text}"
        return DataValidationError(message, row=row, column=column)

    def _next_rows(self, count: int | None) -> list[list[str]]:
        try:
            return list(islice(self.rows, count))
        except csv.Error as e:
            raise self.fail(f"Malformed CSV: {e}.", row=self.rows.line_num) from None
        except UnicodeDecodeError as e:
            raise self.fail(f"The file is not valid UTF-8 ({e.reason}).") from None

    def _read_header(self) -> list[str]:
        first = self._next_rows(1)
        if not first:
            raise self.fail("The file is empty; the first row must be the column headers.")
        header = first[0]
        duplicates = [name for i, name in enumerate(header) if name in header[:i]]
        if duplicates:
            raise self.fail(f"Duplicate column header {duplicates[0]}.", row=1, column=duplicates[0])
        missing = [name for name in self.schema.field_names if name not in header]
        if missing:
            raise self.fail(f"Input CSV is missing the following columns:[{', '.join(missing)}].", row=1)
        extra = [name for name in header if name not in self.schema.field_names]
        if extra:
            names = ", ".join(name or '""' for name in extra)  # "" from a trailing comma
            text = f"Input CSV has columns that are not in the schema:[{names}]."
            raise self.fail(text, row=1, column=extra[0])
        return header

    def chunks(self, size: int | None) -> Iterator[pd.DataFrame]:
        try:
            first_index, started = 0, False
            while True:
                first_line = self.rows.line_num + 1
                rows = self._next_rows(size)
                # The csv module joins quoted line breaks into one record; only then look for them.
                multiline = self.rows.line_num != first_line - 1 + len(rows)
                if rows or not started:  # a header-only file still gives one, empty, frame
                    frame = self._frame(rows, first_line, first_index, multiline)
                    first_index, started = first_index + len(frame), True
                    yield frame
                if size is None or len(rows) < size:
                    return
        finally:
            self.text.detach()  # leave the caller's stream open: closing it is the caller's business

    def _frame(
        self, rows: list[list[str]], first_line: int, first_index: int, multiline: bool
    ) -> pd.DataFrame:
        """Check and type one chunk of records; ``first_line`` is the file line of ``rows[0]``."""
        width = len(self.header)
        lengths = np.fromiter(map(len, rows), dtype=np.intp, count=len(rows))
        lines = np.arange(first_line, first_line + len(rows))
        wrong = (lengths != width) & (lengths != 0)
        if wrong.any():
            i = int(wrong.argmax())
            self._frame(rows[:i], first_line, first_index, multiline)  # an earlier row's problem comes first
            raise self.fail(f"The row has {lengths[i]} fields but the header has {width}.", row=int(lines[i]))
        blank = lengths == 0
        if blank.any():
            rows, lines = list(compress(rows, ~blank)), lines[~blank]
        table = np.array(rows, dtype=object) if rows else np.empty((0, width), dtype=object)
        raw = {name: table[:, j] for j, name in enumerate(self.header)}
        index = pd.RangeIndex(first_index, first_index + len(rows))
        problems = _FirstProblem()
        columns = {}
        for f in self.schema.fields:
            values = _convert(raw[f.name], f, problems, multiline)
            if values is not None:
                columns[f.name] = pd.Series(values, index=index, dtype=values.dtype)
        if problems.found:
            position, column, text = problems.found
            raise self.fail(text, row=int(lines[position]), column=column)
        return pd.DataFrame(columns, index=index)


class _FirstProblem:
    """The earliest problem cell of a chunk; on a tie, the column checked first wins."""

    found: tuple[int, str, str] | None = None

    def check(self, mask: np.ndarray, column: str, describe: Callable[[int], str]) -> bool:
        """Record the first True of ``mask`` if it is the earliest so far; whether any is True."""
        if not mask.any():
            return False
        position = int(mask.argmax())
        if self.found is None or position < self.found[0]:
            self.found = (position, column, describe(position))
        return True


def _show(value: str) -> str:
    return repr(value if len(value) <= _SHOWN_VALUE_CHARS else value[:_SHOWN_VALUE_CHARS] + "...")


def _convert(
    objects: np.ndarray, f: SchemaField, problems: _FirstProblem, multiline: bool
) -> np.ndarray | pd.arrays.IntegerArray | None:
    """One column's typed values, or None when it has a problem (recorded in ``problems``)."""
    strings = objects.astype(_STRINGS)
    null = strings == ""  # an empty cell is null
    if not f.nullable:
        problems.check(null, f.name, lambda i: f"{f.name} is empty, but the field is not nullable.")
    if multiline:
        problems.check(
            (np.strings.find(strings, "\n") >= 0) | (np.strings.find(strings, "\r") >= 0),
            f.name,
            lambda i: f"The value of {f.name} contains a line break; each record must be on one line.",
        )
    if f.type == "string":
        return _strings(objects, strings, null, f, problems)

    def invalid(i: int) -> str:
        return f"The value {_show(objects[i])} of {f.name} is not a valid {f.type}."

    if f.type == "boolean":
        lower = np.strings.lower(strings)
        true = lower == "true"
        if problems.check(~(true | (lower == "false") | null), f.name, invalid):
            return None
        values = np.full(len(objects), None, dtype=object)
        values[~null] = true[~null]
        return values
    bad = np.strings.lstrip(strings, _NUMBER_CHARS[f.type]) != ""
    # Nulls (and cells already found bad) parse as 0 here; nulls are masked out below.
    numbers = _parse_numbers(np.where(null | bad, "0", strings), f.type)
    if problems.check(bad | pd.isna(numbers), f.name, invalid):
        return None
    if f.type in _INT_RANGES:
        low, high = _INT_RANGES[f.type]
        out_of_range = (numbers < low) | (numbers > high)
    else:
        out_of_range = np.abs(numbers) > _FLOAT_MAX[f.type]
    if problems.check(
        out_of_range,
        f.name,
        lambda i: f"The value {_show(objects[i])} of {f.name} is out of range for {f.type}.",
    ):
        return None
    if f.type not in _INT_RANGES:
        return np.where(null, np.nan, numbers.astype(np.float64))
    numbers = numbers.astype(np.int64)
    if f.name in EPOCH_SECONDS_FIELDS and problems.check(
        numbers > MILLISECONDS_ABOVE,
        f.name,
        lambda i: f"The value {numbers[i]} of {f.name} looks like milliseconds; "
        "timestamps must be Unix epoch seconds.",
    ):
        return None
    return pd.arrays.IntegerArray(numbers, null)


def _parse_numbers(strings: np.ndarray, avro_type: str) -> np.ndarray:
    """The numbers in ``strings`` (made of number characters only), NaN where a cell does not parse."""
    try:
        return strings.astype(np.int64 if avro_type in _INT_RANGES else np.float64)  # fast, all or nothing
    except (ValueError, OverflowError):
        # Slower, cell by cell: NaN marks the culprits; ints beyond int64 stay exact for the range check.
        return pd.to_numeric(strings.astype(object), errors="coerce")


def _strings(
    objects: np.ndarray, strings: np.ndarray, null: np.ndarray, f: SchemaField, problems: _FirstProblem
) -> np.ndarray:
    lengths = np.strings.str_len(strings)
    values = objects.copy()
    if f.textual:
        long = lengths > TEXTUAL_MAX_CHARS
        values[long] = np.strings.slice(strings[long], 0, TEXTUAL_MAX_CHARS).astype(object)
    else:
        limit = ID_MAX_CHARS if f.name in ID_FIELDS else VALUE_MAX_CHARS
        problems.check(
            lengths > limit,
            f.name,
            lambda i: f"Length cannot be more than {limit} characters for {f.name}. {_FORMAT_GUIDELINES}",
        )
    values[null] = None
    return values
