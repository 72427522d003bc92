"""One coercion rule set, two renderings: the COPY path's SQL refuses exactly what format_value refuses.

Runs without a PostgreSQL server: the compiled checks are evaluated in SQLite, with the few PostgreSQL
functions they use (strpos, chr, char_length) registered as their definitions, on values as the SQL
conversion yields them. ``test_export`` compares the two paths end to end on a real PostgreSQL.
"""

import itertools
import sqlite3

import pytest

from recsys_assets.export.coercion import CHECKS, NULL_REASON, BadValue, format_value
from recsys_assets.export.mapping import load_mapping
from recsys_assets.export.postgres import compile_postgres
from recsys_assets.personalize_rules.schemas import DatasetSchema, SchemaField

LATEST = 1_800_000_000
# A column type per schema type that the COPY path renders (categorical text: an array, joined with "|").
PG_TYPES = {"string": "text", "int": "int4", "long": "int8", "float": "float8", "double": "float8", "boolean": "bool"}


def pg_type(f: SchemaField) -> str:
    return "_text" if f.categorical else PG_TYPES[f.type]
SAMPLES = {
    "string": [None, "", "ok", "a\nb", "c\rd", "x" * 256, "x" * 257, "y" * 1000, "y" * 1001],
    "int": [None, 7, -(2**31), 2**31 - 1, 2**31, 10**11 + 1],
    "long": [None, 1_700_000_000, LATEST, LATEST + 1, 10**11, 10**11 + 1, 2**63 - 1],
    "float": [None, 1.5, -3.4e38, 1e39, float("inf")],
    "double": [None, 1e300, float("-inf")],
    "boolean": [None, True, False],
}


def _strict(function):
    # SQL functions give NULL for a NULL argument.
    return lambda *args: None if None in args else function(*args)


def _sqlite() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.create_function("strpos", 2, _strict(lambda s, sub: s.find(sub) + 1), deterministic=True)
    conn.create_function("chr", 1, _strict(chr), deterministic=True)
    conn.create_function("char_length", 1, _strict(len), deterministic=True)
    return conn


def _python_problem(fields, row) -> str | None:
    for f, value in zip(fields, row):
        if f.type == "boolean" and value is not None:
            continue  # the SQL path reads booleans from bool columns only
        try:
            format_value(value, f, latest=LATEST)
        except BadValue as e:
            return f"{f.name}|{e.reason}"
    return None


SCHEMAS = {name: spec for name, spec in load_mapping().datasets.items()}
FIELDS = [
    SchemaField("USER_ID", "string", False), SchemaField("GENRES", "string", True, categorical=True),
    SchemaField("DESCRIPTION", "string", True, textual=True), SchemaField("TIMESTAMP", "long", False),
    SchemaField("CREATION_TIMESTAMP", "long", True), SchemaField("AGE", "int", True),
    SchemaField("PRICE", "float", False), SchemaField("SCORE", "double", True), SchemaField("ACTIVE", "boolean", True),
]


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f.name}-{f.type}")
def test_each_rule_renders_to_sql_that_refuses_the_same_values(field):
    spec = SCHEMAS["interactions"]
    schema = DatasetSchema("Test", (field,))
    compiled = compile_postgres(spec, schema, {field.name: pg_type(field)}, LATEST)
    assert compiled is not None
    conn = _sqlite()
    for value in SAMPLES[field.type]:
        in_sql = conn.execute(f"SELECT {compiled.problem} FROM (SELECT ? AS v0)", (value,)).fetchone()[0]
        assert in_sql == _python_problem([field], [value]), value


def test_checks_run_in_the_same_order_across_a_row():
    # The first bad field, and within it the first broken rule, is what both paths report.
    spec, fields = SCHEMAS["interactions"], FIELDS[:4]
    compiled = compile_postgres(spec, DatasetSchema("Test", tuple(fields)),
                                {f.name: pg_type(f) for f in fields}, LATEST)
    columns = ", ".join(f"? AS v{i}" for i in range(len(fields)))
    conn = _sqlite()
    rows = list(itertools.product(*(SAMPLES[f.type][:5] for f in fields)))
    for row in rows:
        in_sql = conn.execute(f"SELECT {compiled.problem} FROM (SELECT {columns})", row).fetchone()[0]
        assert in_sql == _python_problem(fields, row), row


def test_every_rule_is_rendered_and_exercised():
    rendered = {reason for f in FIELDS
                for reason in (r for _, r in compile_postgres(SCHEMAS["interactions"], DatasetSchema("T", (f,)),
                                                              {f.name: pg_type(f)}, LATEST).checks)}
    refused = {_python_problem([f], [v]) for f in FIELDS for v in SAMPLES[f.type]} - {None}
    reasons = {r.split("|", 1)[1] for r in rendered}
    # Every rule of the table appears in SQL for some field, and the samples break each of them.
    for checks in CHECKS.values():
        for check in checks:
            applicable = [f for f in FIELDS if f.type in CHECKS and check in CHECKS[f.type] and check.applies(f)]
            assert any(check.reason(f) in reasons or check.sql("v0", f, LATEST) is None for f in applicable)
    assert NULL_REASON in reasons and refused <= rendered | {f"{f.name}|is out of range for long" for f in FIELDS}
