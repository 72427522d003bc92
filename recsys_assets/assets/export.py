"""users_csv, items_csv, interactions_csv: the app database as Personalize bulk CSVs.

What is read comes from the mapping file (``RECSYS_MAPPING_FILE``, by default the demo shop's).
Each asset validates its mapping and schema, every value it converts and the file it wrote, with
blocking checks: a bad mapping, bad rows or too little data stop the run before anything is
uploaded and before any Personalize resource (and any cost) exists.
"""

import time

import dagster as dg

from recsys_assets.assets.common import OWNERS, preview_md, root_run_id
from recsys_assets.export.csv_export import ExportError, export_csv, load_schema
from recsys_assets.export.mapping import DATASETS, MappingError
from recsys_assets.export.readback import check_csv
from recsys_assets.personalize_rules.minimums import (
    MIN_INTERACTIONS,
    MIN_SHARE_WITH_TWO,
    MIN_USERS_WITH_TWO,
    MinimumData,
)
from recsys_assets.personalize_rules.schemas import DatasetSchema, SchemaValidationError
from recsys_assets.resources import RUN_OUTPUTS, AppDatabaseResource, ObjectStoreResource
from recsys_assets.workflow.refs import ExportedCsv

SCHEMA_CHECK, ROWS_CHECK, MINIMUM_CHECK = "schema_valid", "rows_valid", "minimum_data"


def _build(dataset: str) -> dg.AssetsDefinition:
    name, dataset_type = f"{dataset}_csv", dataset.upper()
    checks = [
        dg.AssetCheckSpec(SCHEMA_CHECK, asset=name, blocking=True,
                          description=f"the mapping and the {dataset} schema follow Personalize's rules for "
                                      f"{dataset_type}"),
        dg.AssetCheckSpec(ROWS_CHECK, asset=name, blocking=True,
                          description="every row converts to the schema and the file reads as the import job "
                                      "will read it"),
    ]
    if dataset_type == "INTERACTIONS":
        checks.append(dg.AssetCheckSpec(MINIMUM_CHECK, asset=name, blocking=True,
                                        description="Personalize's documented minimum data for training"))

    def failed(check_name: str, metadata: dict) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(check_name=check_name, passed=False, metadata=metadata)

    @dg.asset(name=name, group_name="export", kinds={"csv"}, check_specs=checks, io_manager_key=RUN_OUTPUTS,
              owners=OWNERS, tags={"layer": "export"}, code_version="1",
              description=f"The mapped {dataset} of the app database as a Personalize {dataset_type} CSV.")
    def _asset(context: dg.AssetExecutionContext, app_db: AppDatabaseResource,
               object_store: ObjectStoreResource):  # -> MaterializeResult[ExportedCsv] (with checks)
        started = time.monotonic()
        uri = object_store.uri(root_run_id(context.run), f"{dataset}.csv")

        def invalid(error: str, schema_json: str = "") -> ExportedCsv:
            return ExportedCsv(dataset=dataset, uri=uri, schema_json=schema_json, rows=0, valid=False,
                               source=app_db.display_url, error=error)

        try:
            spec = app_db.get_mapping().datasets[dataset]
            schema_json, schema = load_schema(spec)
        except (MappingError, SchemaValidationError) as e:
            context.log.error(str(e))
            return dg.MaterializeResult(value=invalid(str(e)), metadata={"valid": False, "error": str(e)},
                                        check_results=[failed(c.name, {"error": str(e)}) for c in checks])
        store = object_store.get_store()
        common = {"mapping": app_db.mapping_file, "source": spec.source if not spec.is_query else "(query)",
                  "database": app_db.display_url, "schema": _schema_md(schema)}
        try:
            result = export_csv(app_db.get_db(), spec, schema, store, uri)
        except ExportError as e:
            context.log.error(str(e))
            bad = {"error": str(e), "column": e.column or ""}
            if e.bad is not None and e.bad.count:
                bad |= {"bad_rows": e.bad.count, "bad_row_examples": "\n".join(e.bad.examples)}
            results = [dg.AssetCheckResult(check_name=SCHEMA_CHECK, passed=True), failed(ROWS_CHECK, bad)]
            if dataset_type == "INTERACTIONS":
                results.append(failed(MINIMUM_CHECK, {"problems": "rows are invalid; not checked"}))
            return dg.MaterializeResult(value=invalid(str(e), schema_json), metadata={**common, "valid": False, **bad},
                                        check_results=results)

        check = check_csv(store, uri, spec, schema)
        results = [dg.AssetCheckResult(check_name=SCHEMA_CHECK, passed=True)]
        if check.error is None:
            results.append(dg.AssetCheckResult(check_name=ROWS_CHECK, passed=True, metadata={"rows": result.rows}))
        else:
            context.log.error(str(check.error))
            results.append(failed(ROWS_CHECK, {"error": str(check.error), "row": check.error.row or 0,
                                               "column": check.error.column or ""}))
        if dataset_type == "INTERACTIONS":
            problems = check.minimum_data_problems if check.error is None else ["rows are invalid; not checked"]
            results.append(dg.AssetCheckResult(check_name=MINIMUM_CHECK, passed=not problems, metadata={
                "problems": "\n".join(problems) or "none", "minimums": _minimums_md(check.minimum_data)}))
        valid = all(r.passed for r in results)
        context.log.info(f"wrote {result.rows} rows to {uri} ({'valid' if valid else 'INVALID'})")
        metadata = {
            **common,
            "uri": dg.MetadataValue.path(uri),
            "valid": valid,
            "dagster/row_count": result.rows,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(f.name, f.type, description="nullable" if f.nullable else None)
                         for f in schema.fields]),
            "preview": preview_md(schema.field_names, result.preview),
            "source_rows": result.source_rows,
            "export_path": result.path,
            "duration_seconds": round(time.monotonic() - started, 2),
        }
        dropped = {"rows_dropped_unknown_user_or_item": result.unknown, "rows_dropped_duplicate": result.duplicates,
                   "rows_dropped_bad": result.bad.count}
        metadata |= {k: v for k, v in dropped.items() if v}
        if result.bad.count:
            metadata["bad_row_examples"] = "\n".join(result.bad.examples)
        exported = ExportedCsv(dataset=dataset, uri=uri, schema_json=schema_json, rows=result.rows, valid=valid,
                               source=app_db.display_url, event_types=check.event_types,
                               error=None if valid else "see the asset's checks")
        return dg.MaterializeResult(value=exported, metadata=metadata, check_results=results)

    return _asset


def _schema_md(schema: DatasetSchema) -> dg.MetadataValue:
    return preview_md(["field", "type", "nullable", "attributes"],
                      [[f.name, f.type, "yes" if f.nullable else "no",
                        ", ".join(a for a in ("categorical", "textual") if getattr(f, a))] for f in schema.fields])


def _minimums_md(counts: MinimumData | None) -> dg.MetadataValue:
    """The documented minimums next to what this export has."""
    if counts is None:
        return dg.MetadataValue.md("not checked: the rows are invalid")
    share = counts.users_with_two / counts.users if counts.users else 0.0
    return preview_md(["rule", "minimum", "this export"], [
        ["interactions", f"{MIN_INTERACTIONS:,}", f"{counts.interactions:,}"],
        ["users with 2+ interactions", f"{MIN_USERS_WITH_TWO:,}", f"{counts.users_with_two:,}"],
        ["share of users with 2+ interactions", f"{MIN_SHARE_WITH_TWO:.0%}", f"{share:.1%}"]])


users_csv, items_csv, interactions_csv = (_build(name) for name in DATASETS)
