"""dataset_group, solution_version, batch_output: the paid part, on Personalize or the local engine."""


import time

import dagster as dg
from pydantic import Field

from recsys_assets.app_database import stream_rows
from recsys_assets.assets.common import personalize_failures, preview_md, run_names, upstream_metadata
from recsys_assets.assets.export import interactions_csv, items_csv, users_csv
from recsys_assets.export import BATCH_USERS_QUERY
from recsys_assets.resources import AppDatabaseResource, ObjectStoreResource, PersonalizeResource
from recsys_assets.workflow.datasets import build_dataset_group
from recsys_assets.workflow.inference import (
    DEFAULT_FILTER,
    MAX_NUM_RESULTS,
    BatchOutputStats,
    read_batch_output,
    run_batch_inference,
    write_batch_input,
)
from recsys_assets.workflow.training import DEFAULT_RECIPE_ARN, train_solution_version

_CSV_ASSETS = {"users": users_csv, "items": items_csv, "interactions": interactions_csv}


@dg.asset(group_name="personalize", kinds={"personalize"}, deps=list(_CSV_ASSETS.values()),
          description="Dataset group, schemas, the three datasets and their FULL imports, all ACTIVE.")
def dataset_group(context: dg.AssetExecutionContext, personalize: PersonalizeResource) -> dg.MaterializeResult:
    started = time.monotonic()
    schemas, uris = {}, {}
    for ds, asset in _CSV_ASSETS.items():
        meta = upstream_metadata(context, asset.key.to_user_string())
        if not meta.get("valid"):
            raise dg.Failure(f"{asset.key.to_user_string()}'s latest materialization failed validation "
                             f"({meta.get('error', 'see its checks')}); fix it before importing.", allow_retries=False)
        schemas[ds], uris[ds] = meta["schema"], meta["uri"]
    names = run_names(context, personalize.deployment)
    with personalize_failures():
        out = build_dataset_group(personalize.get_client(), names, schemas=schemas, csv_uris=uris,
                                  role_arn=personalize.role_arn, poll=personalize.poll, log=context.log.info)
    return dg.MaterializeResult(metadata={
        "dataset_group_arn": out["dataset_group_arn"],
        **{f"{ds}_dataset_arn": arn for ds, arn in out["dataset_arns"].items()},
        **{f"{ds}_import_job_arn": arn for ds, arn in out["import_job_arns"].items()},
        **{f"{ds}_schema_arn": arn for ds, arn in out["schema_arns"].items()},
        "status": "ACTIVE",
        "duration_seconds": round(time.monotonic() - started, 2),
    })


class TrainingConfig(dg.Config):
    recipe_arn: str = Field(DEFAULT_RECIPE_ARN, description="The recipe to train.")
    perform_hpo: bool = Field(False, description="Hyperparameter search: a cost multiplier, off unless asked.")
    event_type: str | None = Field(None, description="Train only on this EVENT_TYPE (all events if unset).")
    algorithm_hyperparameters: dict[str, str] = Field(default_factory=dict,
                                                      description="solutionConfig.algorithmHyperParameters")


@dg.asset(group_name="personalize", kinds={"personalize"}, deps=[dataset_group],
          description="A solution (automatic training off) and a trained solution version, with its offline metrics.")
def solution_version(context: dg.AssetExecutionContext, config: TrainingConfig,
                     personalize: PersonalizeResource) -> dg.MaterializeResult:
    started = time.monotonic()
    group_arn = upstream_metadata(context, "dataset_group")["dataset_group_arn"]
    solution_config = {"algorithmHyperParameters": config.algorithm_hyperparameters} \
        if config.algorithm_hyperparameters else None
    with personalize_failures():
        out = train_solution_version(
            personalize.get_client(), run_names(context, personalize.deployment), dataset_group_arn=group_arn,
            recipe_arn=config.recipe_arn, perform_hpo=config.perform_hpo, event_type=config.event_type,
            solution_config=solution_config, poll=personalize.poll, log=context.log.info,
        )
    return dg.MaterializeResult(metadata={
        "solution_arn": out["solution_arn"],
        "solution_version_arn": out["solution_version_arn"],
        "recipe_arn": config.recipe_arn,
        "status": out["status"],
        "perform_hpo": config.perform_hpo,
        "training_hours": out["training_hours"],
        "metrics": dg.MetadataValue.json(out["metrics"]),
        **{f"metric/{name}": float(value) for name, value in out["metrics"].items()},
        "duration_seconds": round(time.monotonic() - started, 2),
    })


class BatchConfig(dg.Config):
    num_results: int = Field(25, ge=1, le=MAX_NUM_RESULTS, description="Recommendations per user (max 500).")
    filter_expression: str = Field(DEFAULT_FILTER, description="Personalize filter expression; empty for none.")


@dg.asset(group_name="personalize", kinds={"personalize"}, deps=[solution_version],
          check_specs=[dg.AssetCheckSpec("batch_output_complete", asset="batch_output", blocking=True,
                                         description="every requested user got recommendations and no line failed")],
          description="Batch recommendations for every user of the app database (filter + batch inference job).")
def batch_output(context: dg.AssetExecutionContext, config: BatchConfig, personalize: PersonalizeResource,
                 app_db: AppDatabaseResource, object_store: ObjectStoreResource) -> dg.MaterializeResult:
    started = time.monotonic()
    version = upstream_metadata(context, "solution_version")
    group_arn = upstream_metadata(context, "dataset_group")["dataset_group_arn"]
    names = run_names(context, personalize.deployment)
    store = object_store.get_store()
    input_uri = object_store.uri(names.run_id, "batch-input", "users.json")
    with store.open_text_write(input_uri) as text:
        users = write_batch_input((str(row[0]) for row in stream_rows(app_db.get_engine(), BATCH_USERS_QUERY)), text)
    with personalize_failures():
        out = run_batch_inference(
            personalize.get_client(), names, dataset_group_arn=group_arn,
            solution_version_arn=version["solution_version_arn"], input_uri=input_uri,
            output_prefix=object_store.uri(names.run_id, "batch-output"), num_results=config.num_results,
            filter_expression=config.filter_expression or None, role_arn=personalize.role_arn,
            poll=personalize.poll, log=context.log.info,
        )
    stats, preview = BatchOutputStats(), []
    with store.open_text_read(out["output_uri"]) as f:
        for rec in read_batch_output(f, stats):
            if len(preview) < 10:
                preview.append(list(rec))
    complete = stats.error_lines == 0 and stats.users_with_items == users
    return dg.MaterializeResult(
        metadata={
            "output_uri": dg.MetadataValue.path(out["output_uri"]),
            "input_uri": dg.MetadataValue.path(input_uri),
            "batch_inference_job_arn": out["batch_inference_job_arn"],
            "filter_arn": out["filter_arn"] or "",
            "filter_expression": config.filter_expression,
            "status": out["status"],
            "num_results": config.num_results,
            "users_requested": users,
            "users_with_recommendations": stats.users_with_items,
            "recommendations": stats.recommendations,
            "error_lines": stats.error_lines,
            "preview": preview_md(["user_id", "rank", "item_id", "score"], preview),
            "duration_seconds": round(time.monotonic() - started, 2),
        },
        check_results=[dg.AssetCheckResult(
            check_name="batch_output_complete", passed=complete,
            metadata={"users_requested": users, "users_with_recommendations": stats.users_with_items,
                      "error_lines": stats.error_lines, "first_errors": "\n".join(stats.first_errors) or "none"},
        )],
    )
