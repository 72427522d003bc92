"""users_csv, items_csv, interactions_csv: the app database as Personalize bulk CSVs.

Each asset validates its schema file and every row it wrote, with blocking checks: a bad schema,
a bad row or too little data stops the run before any Personalize resource (and any cost) exists.
"""


import time

import dagster as dg

from recsys_assets.assets.common import preview_md, root_run_id
from recsys_assets.engine import validation
from recsys_assets.export import EXPORTS, DatasetExport, check_csv, export_csv, load_schema
from recsys_assets.resources import AppDatabaseResource, ObjectStoreResource

SCHEMA_CHECK, ROWS_CHECK, MINIMUM_CHECK = "schema_valid", "rows_valid", "minimum_data"


def _build(spec: DatasetExport) -> dg.AssetsDefinition:
    name = f"{spec.name}_csv"
    checks = [
        dg.AssetCheckSpec(SCHEMA_CHECK, asset=name, blocking=True,
                          description=f"schemas/{spec.name}.json follows Personalize's rules for {spec.dataset_type}"),
        dg.AssetCheckSpec(ROWS_CHECK, asset=name, blocking=True,
                          description="every row matches the schema, as the import job will check it"),
    ]
    if spec.dataset_type == "INTERACTIONS":
        checks.append(dg.AssetCheckSpec(MINIMUM_CHECK, asset=name, blocking=True,
                                        description="Personalize's documented minimum data for training"))

    @dg.asset(name=name, group_name="export", kinds={"csv"}, check_specs=checks,
              description=f"The {spec.name} table of the app database as a Personalize {spec.dataset_type} CSV.")
    def _asset(context: dg.AssetExecutionContext, app_db: AppDatabaseResource,
               object_store: ObjectStoreResource) -> dg.MaterializeResult:
        started = time.monotonic()
        try:
            schema_json, schema = load_schema(spec)
        except validation.SchemaValidationError as e:
            context.log.error(str(e))
            failed = {"error": str(e)}
            return dg.MaterializeResult(
                metadata={"valid": False, "error": str(e)},
                check_results=[dg.AssetCheckResult(check_name=c.name, passed=False, metadata=failed)
                               for c in checks],
            )
        uri = object_store.uri(root_run_id(context), f"{spec.name}.csv")
        store = object_store.get_store()
        result = export_csv(app_db.get_engine(), spec, schema, store, uri)
        check = check_csv(store, uri, spec, schema)
        results = [dg.AssetCheckResult(check_name=SCHEMA_CHECK, passed=True)]
        if check.error is None:
            results.append(dg.AssetCheckResult(check_name=ROWS_CHECK, passed=True, metadata={"rows": result.rows}))
        else:
            context.log.error(str(check.error))
            results.append(dg.AssetCheckResult(
                check_name=ROWS_CHECK, passed=False,
                metadata={"error": str(check.error), "row": check.error.row or 0, "column": check.error.column or ""}))
        if spec.dataset_type == "INTERACTIONS":
            problems = check.minimum_data_problems if check.error is None else ["rows are invalid; not checked"]
            results.append(dg.AssetCheckResult(check_name=MINIMUM_CHECK, passed=not problems,
                                               metadata={"problems": "\n".join(problems) or "none"}))
        valid = all(r.passed for r in results)
        context.log.info(f"wrote {result.rows} rows to {uri} ({'valid' if valid else 'INVALID'})")
        metadata = {
            "uri": dg.MetadataValue.path(uri),
            "valid": valid,
            "schema": schema_json,
            "dagster/row_count": result.rows,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(f.name, f.type, description="nullable" if f.nullable else None)
                         for f in schema.fields]),
            "preview": preview_md(schema.field_names, result.preview),
            "duration_seconds": round(time.monotonic() - started, 2),
        }
        if result.dropped_rows:
            metadata["rows_dropped_unknown_user_or_item"] = result.dropped_rows
        return dg.MaterializeResult(metadata=metadata, check_results=results)

    return _asset


users_csv, items_csv, interactions_csv = (_build(EXPORTS[name]) for name in ("users", "items", "interactions"))
