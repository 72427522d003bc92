"""Which tables and columns of the app database become Personalize's users, items and interactions.

A mapping is a TOML file (``mappings/demo.toml`` is the demo shop's, and the default; README.md
documents the format). It holds SQL and names only: the database URL and its password stay in the
environment, and unknown keys are refused, so there is no place in the file for a secret.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from recsys_assets.personalize_rules.schemas import (
    SchemaValidationError,
    check_schema_for_dataset_type,
    parse_schema,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = ROOT / "schemas"
DEFAULT_MAPPING_FILE = ROOT / "mappings" / "demo.toml"
MAPPING_ENV = "RECSYS_MAPPING_FILE"

# The datasets the pipeline fills; each is the Personalize dataset type of its name in upper case.
DATASETS = ("users", "items", "interactions")
ID_FIELDS = {"users": "USER_ID", "items": "ITEM_ID"}
BAD_ROW_POLICIES = ("fail", "drop")
_DATASET_KEYS = {"table", "query", "columns", "on_bad_rows", "latest_by", "epoch_milliseconds", "schema"}


class MappingError(ValueError):
    """The mapping file is unusable; the message names the file, the section and the key."""


@dataclass(frozen=True)
class DatasetExport:
    name: str  # users | items | interactions
    dataset_type: str
    schema_path: Path
    # A table name, or a query (``is_query``) used as a subquery.
    source: str
    is_query: bool
    # Schema field -> source column or SQL expression over the source, in schema order.
    columns: dict[str, str]
    on_bad_rows: str = "fail"
    # users/items: among rows sharing an ID, the one with the greatest value of this expression is kept.
    latest_by: str | None = None
    # Integer fields whose numbers are epoch milliseconds (datetimes need no such note).
    epoch_milliseconds: frozenset[str] = frozenset()
    # interactions only: (field, dataset) pairs whose IDs must exist for a row to be exported.
    known_in: tuple[tuple[str, "DatasetExport"], ...] = ()

    @property
    def from_sql(self) -> str:
        return f"({self.source}) src" if self.is_query else f"{self.source} src"

    def select_sql(self, extra: str = "") -> str:
        """The source's rows as the schema's fields (aliased by field name), in schema order."""
        cells = [f"{expr} AS {name}" for name, expr in self.columns.items()]
        return f"SELECT {', '.join(cells + ([extra] if extra else []))} FROM {self.from_sql}"

    def count_sql(self) -> str:
        return f"SELECT COUNT(*) FROM {self.from_sql}"

    def export_sql(self) -> str:
        """Rows to export: users/items one per ID; interactions only of users and items that are exported (or NULL)."""
        fields = ", ".join(self.columns)
        if self.name in ID_FIELDS:
            order = f" ORDER BY {self.latest_by} DESC" if self.latest_by else ""
            ranked = self.select_sql(f"ROW_NUMBER() OVER (PARTITION BY {self.columns[ID_FIELDS[self.name]]}{order})"
                                     " AS recsys_row")
            return f"SELECT {fields} FROM ({ranked}) d WHERE recsys_row = 1"
        # A NULL ID passes on to the coercion, which refuses it as a bad row: it is no unknown user or item.
        known = " AND ".join(
            f"(d.{key} IS NULL OR EXISTS (SELECT 1 FROM ({other.select_sql()}) k{n} WHERE k{n}.{key} = d.{key}))"
            for n, (key, other) in enumerate(self.known_in)
        )
        return f"SELECT {fields} FROM ({self.select_sql()}) d" + (f" WHERE {known}" if known else "")


@dataclass(frozen=True)
class Mapping:
    path: Path
    datasets: dict[str, DatasetExport] = field(default_factory=dict)
    users_to_score: str = ""


def mapping_path(env: dict[str, str]) -> Path:
    return Path(env.get(MAPPING_ENV) or DEFAULT_MAPPING_FILE)


def load_mapping(path: str | Path = DEFAULT_MAPPING_FILE) -> Mapping:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"{path}: no such mapping file (set {MAPPING_ENV} to an existing file)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MappingError(f"{path}: not valid TOML: {e}") from None

    def fail(where: str, text: str) -> MappingError:
        return MappingError(f"{path}: [{where}] {text}")

    unknown = set(doc) - set(DATASETS) - {"users_to_score"}
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown section or key; expected {', '.join(DATASETS)} "
                                       "and users_to_score")
    datasets = {name: _dataset(path, name, doc.get(name), fail) for name in DATASETS}
    datasets["interactions"] = replace(datasets["interactions"], known_in=(("USER_ID", datasets["users"]),
                                                                          ("ITEM_ID", datasets["items"])))
    users = datasets["users"]
    users_to_score = doc.get("users_to_score", f"SELECT {users.columns['USER_ID']} FROM {users.from_sql}")
    if not isinstance(users_to_score, str) or not users_to_score.strip():
        raise fail("users_to_score", "must be a non-empty SQL query returning one column of user IDs")
    return Mapping(path=path, datasets=datasets, users_to_score=users_to_score)


def _dataset(path: Path, name: str, section, fail) -> DatasetExport:
    if not isinstance(section, dict):
        raise fail(name, "missing section: give either table = \"...\" with [" + name + ".columns], "
                         "or query = \"...\"")
    unknown = set(section) - _DATASET_KEYS
    if unknown:
        raise fail(name, f"unknown key {sorted(unknown)[0]!r}; expected one of {', '.join(sorted(_DATASET_KEYS))}")
    table, query = section.get("table"), section.get("query")
    if (table is None) == (query is None):
        raise fail(name, "give exactly one of table = \"...\" and query = \"...\"")
    source = table if table is not None else query
    if not isinstance(source, str) or not source.strip():
        raise fail(f"{name}.{'table' if table is not None else 'query'}", "must be a non-empty string")

    schema_path = (path.parent / section["schema"]) if "schema" in section else SCHEMAS_DIR / f"{name}.json"
    try:
        schema = parse_schema(schema_path.read_text())
        check_schema_for_dataset_type(schema, name.upper())
    except (OSError, SchemaValidationError) as e:
        raise fail(f"{name}.schema", f"{schema_path}: {e}") from None

    columns = section.get("columns")
    if columns is None:
        if table is not None:
            raise fail(f"{name}.columns", f"missing: map each schema field ({', '.join(schema.field_names)}) "
                                          "to a column of the table")
        columns = {f: f for f in schema.field_names}  # a query may name its columns as the fields
    if not isinstance(columns, dict) or not all(isinstance(v, str) and v.strip() for v in columns.values()):
        raise fail(f"{name}.columns", "must map schema fields to non-empty column names or SQL expressions")
    unknown_fields = [f for f in columns if f not in schema.field_names]
    if unknown_fields:
        raise fail(f"{name}.columns", f"{unknown_fields[0]} is not a field of {schema_path.name} "
                                      f"({', '.join(schema.field_names)})")
    missing = [f for f in schema.field_names if f not in columns]
    if missing:
        raise fail(f"{name}.columns", f"no source for {', '.join(missing)}; map every field of {schema_path.name}")

    policy = section.get("on_bad_rows", "fail")
    if policy not in BAD_ROW_POLICIES:
        raise fail(f"{name}.on_bad_rows", f"{policy!r} is not one of {', '.join(BAD_ROW_POLICIES)}")
    latest_by = section.get("latest_by")
    if latest_by is not None and (name not in ID_FIELDS or not isinstance(latest_by, str) or not latest_by.strip()):
        raise fail(f"{name}.latest_by", "only users and items take latest_by, a column or SQL expression")
    millis = section.get("epoch_milliseconds", [])
    integer_fields = [f.name for f in schema.fields if f.type in ("int", "long")]
    if not isinstance(millis, list) or any(m not in integer_fields for m in millis):
        raise fail(f"{name}.epoch_milliseconds", f"must list integer fields of the schema ({', '.join(integer_fields)})")
    return DatasetExport(
        name=name, dataset_type=name.upper(), schema_path=schema_path, source=source.strip(),
        is_query=query is not None, columns={f: columns[f].strip() for f in schema.field_names},
        on_bad_rows=policy, latest_by=latest_by, epoch_milliseconds=frozenset(millis),
    )
