"""Bulk CSV as the import job reads it: one file's parsing, its column and value rules.

Sources: [DG:preparing-training-data] (bulk data format guidelines), [DG:limits], [DG:error-messages]
(https://docs.aws.amazon.com/personalize/latest/dg/preparing-training-data.html). Reads a stream it is
given and opens nothing itself; the message of every DataValidationError is the import job's
failureReason.
"""

from __future__ import annotations

import csv
import io
from itertools import compress, islice
from typing import BinaryIO, Callable, Iterator

import numpy as np
import pandas as pd

from recsys_assets.personalize_rules.schemas import DatasetSchema, SchemaField, dataset_label


ID_FIELDS = ("USER_ID", "ITEM_ID", "ACTION_ID")
ID_MAX_CHARS = 256
VALUE_MAX_CHARS = 1000  # categorical (pipes included) and other strings
TEXTUAL_MAX_CHARS = 20000  # truncated, not failed (the 7,000 for Chinese/Japanese is not applied)
EPOCH_SECONDS_FIELDS = ("TIMESTAMP", "CREATION_TIMESTAMP")
MILLISECONDS_ABOVE = 10**11  # year 5138 in seconds, but 1973 in milliseconds
INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
FLOAT_MAX = {"float": float(np.finfo(np.float32).max), "double": float(np.finfo(np.float64).max)}
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
    reader = _CsvReader(stream, schema, dataset_label(dataset_type), source)
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
    if f.type in INT_RANGES:
        low, high = INT_RANGES[f.type]
        out_of_range = (numbers < low) | (numbers > high)
    else:
        out_of_range = np.abs(numbers) > FLOAT_MAX[f.type]
    if problems.check(
        out_of_range,
        f.name,
        lambda i: f"The value {_show(objects[i])} of {f.name} is out of range for {f.type}.",
    ):
        return None
    if f.type not in INT_RANGES:
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
        return strings.astype(np.int64 if avro_type in INT_RANGES else np.float64)  # fast, all or nothing
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
