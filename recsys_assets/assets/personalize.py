"""dataset_group, solution_version, batch_output: the paid part, on Personalize or the local engine."""


import dataclasses
import time

import dagster as dg
from pydantic import Field

from recsys_assets.app_database import stream_rows
from recsys_assets.assets.common import personalize_failures, preview_md, run_names, upstream_metadata
from recsys_assets.assets.export import interactions_csv, items_csv, users_csv
from recsys_assets.resources import (
    AppDatabaseResource,
    GuardrailsResource,
    ObjectStoreResource,
    PersonalizeResource,
    S3ObjectStoreResource,
)
from recsys_assets.workflow.cost import GB, BudgetExceeded, check_training_budget, runs_per_month, training_multiplier
from recsys_assets.workflow.datasets import build_dataset_group
from recsys_assets.workflow.inference import (
    DEFAULT_FILTER,
    MAX_NUM_RESULTS,
    BatchOutputStats,
    read_batch_output,
    run_batch_inference,
    write_batch_input,
)
from recsys_assets.workflow.preflight import preflight_problems
from recsys_assets.workflow.quality import quality_problems
from recsys_assets.workflow.training import DEFAULT_RECIPE_ARN, TrainingTooLong, train_solution_version

_CSV_ASSETS = {"users": users_csv, "items": items_csv, "interactions": interactions_csv}


@dg.asset(group_name="personalize", kinds={"personalize"}, deps=list(_CSV_ASSETS.values()),
          description="Dataset group, schemas, the three datasets and their FULL imports, all ACTIVE.")
def dataset_group(context: dg.AssetExecutionContext, personalize: PersonalizeResource,
                  object_store: ObjectStoreResource, guardrails: GuardrailsResource) -> dg.MaterializeResult:
    started = time.monotonic()
    schemas, uris = {}, {}
    for ds, asset in _CSV_ASSETS.items():
        meta = upstream_metadata(context, asset.key.to_user_string())
        if not meta.get("valid"):
            raise dg.Failure(f"{asset.key.to_user_string()}'s latest materialization failed validation "
                             f"({meta.get('error', 'see its checks')}); fix it before importing.", allow_retries=False)
        schemas[ds], uris[ds] = meta["schema"], meta["uri"]
    if isinstance(object_store, S3ObjectStoreResource) and personalize.backend == "aws":
        problems = preflight_problems(object_store.s3.get_client(), bucket=object_store.bucket,
                                      region=personalize.region_name, role_arn=personalize.role_arn)
        if problems:
            raise dg.Failure("AWS preflight failed before any paid call:\n- " + "\n- ".join(problems),
                             metadata={"problems": "\n".join(problems)}, allow_retries=False)
    store = object_store.get_store()
    bytes_ingested = sum(store.size(uri) for uri in uris.values())
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
        "imports_reused": ", ".join(out["imports_reused"]) or "none",
        "gb_ingested": round(bytes_ingested / GB, 6),
        "cost/ingestion_usd": round(guardrails.prices.ingestion(bytes_ingested), 6),
        "duration_seconds": round(time.monotonic() - started, 2),
    })


class TrainingConfig(dg.Config):
    recipe_arn: str = Field(DEFAULT_RECIPE_ARN, description="The recipe to train.")
    perform_hpo: bool = Field(False, description="Hyperparameter search: a cost multiplier, off unless asked.")
    hpo_config: dict | None = Field(None, description="solutionConfig.hpoConfig (ranges, maxNumberOfTrainingJobs)")
    perform_auto_ml: bool = Field(False, description="AutoML (deprecated by AWS): trains several recipes; "
                                                     "a cost multiplier, off unless asked.")
    event_type: str | None = Field(None, description="Train only on this EVENT_TYPE (all events if unset).")
    algorithm_hyperparameters: dict[str, str] = Field(default_factory=dict,
                                                      description="solutionConfig.algorithmHyperParameters")


@dg.asset(group_name="personalize", kinds={"personalize"}, deps=[dataset_group],
          description="A solution (automatic training off) and a trained solution version, with its offline metrics.")
def solution_version(context: dg.AssetExecutionContext, config: TrainingConfig, personalize: PersonalizeResource,
                     guardrails: GuardrailsResource) -> dg.MaterializeResult:
    started = time.monotonic()
    group_arn = upstream_metadata(context, "dataset_group")["dataset_group_arn"]
    solution_config = {}
    if config.algorithm_hyperparameters:
        solution_config["algorithmHyperParameters"] = config.algorithm_hyperparameters
    if config.perform_hpo and config.hpo_config:
        solution_config["hpoConfig"] = config.hpo_config
    if config.perform_auto_ml:
        context.log.warning("performAutoML is deprecated by AWS (\"We don't recommend enabling automated machine "
                            "learning\") and trains several recipes: expect several times the training cost.")
    multiplier = training_multiplier(config.perform_hpo, solution_config)
    try:
        estimate = check_training_budget(guardrails.prices, expected_hours=guardrails.expected_training_hours,
                                         multiplier=multiplier, budget_usd=guardrails.budget_usd_per_run)
    except BudgetExceeded as e:
        raise dg.Failure(f"budget guard: {e}", allow_retries=False) from e
    poll = dataclasses.replace(personalize.poll, training_timeout=guardrails.max_training_hours * 3600)
    with personalize_failures():
        try:
            out = train_solution_version(
                personalize.get_client(), run_names(context, personalize.deployment), dataset_group_arn=group_arn,
                recipe_arn=config.recipe_arn, perform_hpo=config.perform_hpo, perform_auto_ml=config.perform_auto_ml,
                event_type=config.event_type, solution_config=solution_config or None, poll=poll,
                log=context.log.info,
            )
        except TrainingTooLong as e:
            raise dg.Failure(str(e), allow_retries=False) from e
    return dg.MaterializeResult(metadata={
        "solution_arn": out["solution_arn"],
        "solution_version_arn": out["solution_version_arn"],
        "recipe_arn": config.recipe_arn,
        "status": out["status"],
        "reused_earlier_training": out["reused"],
        # HPO and AutoML multiply what training costs: flagged so nobody pays for them unknowingly.
        "cost_multipliers": ", ".join(f for f, on in (("HPO", config.perform_hpo), ("AutoML", config.perform_auto_ml))
                                      if on) or "none",
        "training_jobs_budgeted": multiplier,
        "cost/estimated_training_usd": round(estimate, 4),
        "training_hours": out["training_hours"],
        "cost/training_usd": round(guardrails.prices.training(out["training_hours"]), 6),
        "tuned_hpo_params": dg.MetadataValue.json(out["tuned_hpo_params"] or {}),
        "metrics": dg.MetadataValue.json(out["metrics"]),
        **{f"metric/{name}": float(value) for name, value in out["metrics"].items()},
        "duration_seconds": round(time.monotonic() - started, 2),
    })


def _metrics(record: dg.EventLogRecord) -> dict[str, float]:
    metadata = record.asset_materialization.metadata
    return {k.split("/", 1)[1]: float(v.value) for k, v in metadata.items() if k.startswith("metric/")}


@dg.asset_check(asset=solution_version, blocking=True,
                description="Offline metrics meet the configured minimums and did not regress beyond tolerance "
                            "against the last successful run; otherwise batch_output (and the write-back) stop, "
                            "and yesterday's recommendations stay in place.")
def solution_version_quality(context: dg.AssetCheckExecutionContext,
                             guardrails: GuardrailsResource) -> dg.AssetCheckResult:
    records = context.instance.fetch_materializations(solution_version.key, limit=100).records
    if not records:
        return dg.AssetCheckResult(passed=False, metadata={"problems": "solution_version was never materialized"})
    current, previous, previous_run = _metrics(records[0]), None, None
    for record in records[1:]:
        run = context.instance.get_run_by_id(record.run_id)
        if run is not None and run.status == dg.DagsterRunStatus.SUCCESS:
            previous, previous_run = _metrics(record), record.run_id
            break
    problems = quality_problems(current, previous, minimums=guardrails.quality_minimums,
                                max_relative_drop=guardrails.quality_max_drop)
    for problem in problems:
        context.log.error(problem)
    return dg.AssetCheckResult(passed=not problems, metadata={
        "problems": "\n".join(problems) or "none",
        "compared_with_run": previous_run or "none (first successful run)",
        "minimums": dg.MetadataValue.json(guardrails.quality_minimums),
        "max_relative_drop": guardrails.quality_max_drop,
    })


class BatchConfig(dg.Config):
    num_results: int = Field(25, ge=1, le=MAX_NUM_RESULTS, description="Recommendations per user (max 500).")
    filter_expression: str = Field(DEFAULT_FILTER, description="Personalize filter expression; empty for none.")


@dg.asset(group_name="personalize", kinds={"personalize"}, deps=[solution_version],
          check_specs=[dg.AssetCheckSpec("batch_output_complete", asset="batch_output", blocking=True,
                                         description="every requested user got recommendations and no line failed")],
          description="Batch recommendations for every user of the app database (filter + batch inference job).")
def batch_output(context: dg.AssetExecutionContext, config: BatchConfig, personalize: PersonalizeResource,
                 app_db: AppDatabaseResource, object_store: ObjectStoreResource,
                 guardrails: GuardrailsResource) -> dg.MaterializeResult:
    started = time.monotonic()
    version = upstream_metadata(context, "solution_version")
    group_arn = upstream_metadata(context, "dataset_group")["dataset_group_arn"]
    names = run_names(context, personalize.deployment)
    store = object_store.get_store()
    input_uri = object_store.uri(names.run_id, "batch-input", "users.json")
    with store.open_text_write(input_uri) as text:
        users = write_batch_input((str(row[0]) for row in stream_rows(app_db.get_engine(),
                                                                      app_db.get_mapping().users_to_score)), text)
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
    batch_cost = guardrails.prices.batch(stats.recommendations + stats.error_lines)
    run_cost = (batch_cost + upstream_metadata(context, "dataset_group").get("cost/ingestion_usd", 0.0)
                + version.get("cost/training_usd", 0.0))
    per_month = runs_per_month(guardrails.schedule_cron, guardrails.schedule_timezone)
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
            "reused_earlier_job": out["reused"],
            "cost/batch_usd": round(batch_cost, 6),
            # What this run cost on AWS prices (on the local backend: what it would have cost).
            "cost/run_total_usd": round(run_cost, 6),
            "cost/monthly_projection_usd": round(run_cost * per_month, 4),
            "preview": preview_md(["user_id", "rank", "item_id", "score"], preview),
            "duration_seconds": round(time.monotonic() - started, 2),
        },
        check_results=[dg.AssetCheckResult(
            check_name="batch_output_complete", passed=complete,
            metadata={"users_requested": users, "users_with_recommendations": stats.users_with_items,
                      "error_lines": stats.error_lines, "first_errors": "\n".join(stats.first_errors) or "none"},
        )],
    )
