"""What an export produced or refused, and the CSV dialect both export paths write and read back."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

EXAMPLE_ROWS = 5
# What a bad row is shown by.
KEY_FIELDS = {"users": ("USER_ID",), "items": ("ITEM_ID",), "interactions": ("USER_ID", "ITEM_ID", "TIMESTAMP")}


class ExportError(ValueError):
    """The export can't produce a valid file; names the dataset, and the column and rows where known."""

    def __init__(self, message: str, *, column: str | None = None, bad: "BadRows | None" = None):
        super().__init__(message)
        self.column = column
        self.bad = bad


@dataclass
class BadRows:
    """Rows the coercion refused: how many, why, and the first few (with their keys)."""

    count: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    first_column: str | None = None

    def add(self, column: str, reason: str, keys: str, value: str) -> None:
        self.count += 1
        self.reasons[f"{column} {reason}"] += 1
        if self.first_column is None:
            self.first_column = column
        if len(self.examples) < EXAMPLE_ROWS:
            self.examples.append(f"row with {keys}: {column} {reason} (value {value})")

    def summary(self) -> str:
        reasons = "; ".join(f"{n} x {text}" for text, n in self.reasons.most_common(5))
        return f"{self.count} bad rows ({reasons}); first: " + " | ".join(self.examples)


@dataclass
class ExportResult:
    uri: str
    rows: int = 0  # written
    source_rows: int = 0  # in the mapped table or query
    read_rows: int = 0  # returned by the export query (one per ID; only known users and items)
    unknown: int = 0  # interactions of users or items that are not exported
    duplicates: int = 0  # rows sharing an ID (users, items), exact duplicates (interactions)
    bad: BadRows = field(default_factory=BadRows)
    path: str = "rows"  # "copy" on PostgreSQL when every column type compiles
    preview: list[list[str]] = field(default_factory=list)


def csv_writer(out: io.TextIOBase):
    # The import reads a backslash as an escape (the docs' rule for quotes in text): write it doubled.
    return csv.writer(out, lineterminator="\n", escapechar="\\")


def csv_rows(block: bytes) -> Iterator[list[str]]:
    text = block.decode("utf-8", errors="replace")
    yield from csv.reader(io.StringIO(text[: text.rfind("\n") + 1]), escapechar="\\")
