"""dataset_group, solution_version, batch_output: the paid part, on Personalize or the local engine.

Each receives its upstream's record of this run (``workflow.refs``, through the run-scoped IO manager) and
runs in the ``personalize`` pool, so an instance runs one Personalize step at a time.
"""

import dataclasses
import time

import dagster as dg

from recsys_assets.app_database import stream_rows
from recsys_assets.assets.common import PERSONALIZE_POOL, personalize_failures, preview_md, run_names
from recsys_assets.personalize_rules.limits import GB
from recsys_assets.resources import (
    RUN_OUTPUTS,
    AppDatabaseResource,
    GuardrailsResource,
    ObjectStoreResource,
    PersonalizeResource,
)
from recsys_assets.assets.run_config import BatchConfig, TrainingConfig, run_configs, run_problems
from recsys_assets.workflow.cost import BudgetExceeded, Cost, RunUsage, check_budget, monthly_cost, run_cost
from recsys_assets.workflow.datasets import build_dataset_group
from recsys_assets.workflow.inference import (
    BatchOutputStats,
    read_batch_output,
    run_batch_job,
    write_batch_input,
)
from recsys_assets.workflow.quality import quality_problems
from recsys_assets.workflow.refs import DatasetGroupRef, ExportedCsv, SolutionVersionRef
from recsys_assets.workflow.training import TrainingTooLong, train_solution_version


@dg.asset(group_name="personalize", kinds={"personalize"}, pool=PERSONALIZE_POOL, io_manager_key=RUN_OUTPUTS,
          description="Dataset group, schemas, the three datasets and their FULL imports, all ACTIVE.")
def dataset_group(context: dg.AssetExecutionContext, users_csv: ExportedCsv, items_csv: ExportedCsv,
                  interactions_csv: ExportedCsv, personalize: PersonalizeResource, object_store: ObjectStoreResource,
                  guardrails: GuardrailsResource) -> dg.MaterializeResult[DatasetGroupRef]:
    started = time.monotonic()
    exports = {e.dataset: e for e in (users_csv, items_csv, interactions_csv)}
    for export in exports.values():
        if not export.valid:
            raise dg.Failure(f"{export.dataset}_csv of this run failed validation ({export.error}); fix it before "
                             "importing.", allow_retries=False)
    configs, problems = run_configs(context.run.run_config)
    if not problems:
        problems = run_problems(configs, exports, personalize)
    if problems:
        raise dg.Failure("this run's config would fail on Personalize; nothing was created or paid for:\n- "
                         + "\n- ".join(problems), metadata={"problems": "\n".join(problems)}, allow_retries=False)
    preflight = personalize.preflight()
    for line in preflight.unverified:
        context.log.warning(f"AWS preflight could not verify: {line}")
    if preflight.problems:
        raise dg.Failure("AWS preflight failed before any paid call:\n- " + "\n- ".join(preflight.problems),
                         metadata={"problems": "\n".join(preflight.problems),
                                   "unverified": "\n".join(preflight.unverified) or "none"}, allow_retries=False)
    store = object_store.get_store()
    bytes_ingested = sum(store.size(e.uri) for e in exports.values())
    training, batch = configs["solution_version"], configs["batch_output"]
    # Before the first paid call: the whole run at the expected training hours, for as many users as the
    # users dataset holds (the batch job scores the mapping's users_to_score).
    recommendations = users_csv.rows * batch.num_results
    usage = RunUsage(bytes_ingested=bytes_ingested, interactions=interactions_csv.rows, trainings=training.trainings(),
                     training_hours=guardrails.expected_training_hours, recommendations=recommendations,
                     # the batch output: some 30 bytes per recommendation
                     **_stored(object_store, bytes_ingested + recommendations * 30))
    estimate = run_cost(guardrails.prices, usage, month_recommendations=usage.recommendations * guardrails.runs_per_month)
    try:
        check_budget(estimate, guardrails.budget_usd_per_run, what="this run")
    except BudgetExceeded as e:
        raise dg.Failure(f"budget guard: {e}", allow_retries=False) from e
    with personalize_failures():
        group = build_dataset_group(personalize.get_client(), run_names(context, personalize.deployment),
                                    schemas={ds: e.schema_json for ds, e in exports.items()},
                                    csv_uris={ds: e.uri for ds, e in exports.items()},
                                    role_arn=personalize.role_arn, poll=personalize.poll, log=context.log.info,
                                    kms_key_arn=personalize.kms_key_arn)
    group = dataclasses.replace(group, bytes_ingested=bytes_ingested, source=interactions_csv.source,
                                ingestion_usd=estimate.ingestion, estimated_run_usd=estimate.total,
                                usage=usage.to_dict())
    return dg.MaterializeResult(value=group, metadata={
        "dataset_group_arn": group.dataset_group_arn,
        **{f"{ds}_dataset_arn": arn for ds, arn in group.dataset_arns.items()},
        **{f"{ds}_import_job_arn": arn for ds, arn in group.import_job_arns.items()},
        **{f"{ds}_schema_arn": arn for ds, arn in group.schema_arns.items()},
        "status": "ACTIVE",
        "imports_reused": ", ".join(group.imports_reused) or "none",
        "preflight_unverified": "\n".join(preflight.unverified) or "none",
        "gb_ingested": round(bytes_ingested / GB, 6),
        "cost/ingestion_usd": round(estimate.ingestion, 6),
        "cost/estimated_run_usd": round(estimate.total, 6),
        "cost/estimate": dg.MetadataValue.md(_cost_md(estimate)),
        "duration_seconds": round(time.monotonic() - started, 2),
    })


@dg.asset(group_name="personalize", kinds={"personalize"}, pool=PERSONALIZE_POOL, io_manager_key=RUN_OUTPUTS,
          description="A solution (automatic training off) and a trained solution version, with its offline metrics.")
def solution_version(context: dg.AssetExecutionContext, config: TrainingConfig, dataset_group: DatasetGroupRef,
                     personalize: PersonalizeResource,
                     guardrails: GuardrailsResource) -> dg.MaterializeResult[SolutionVersionRef]:
    started = time.monotonic()
    solution_config = config.solution_config()
    if config.perform_auto_ml:
        context.log.warning("performAutoML is deprecated by AWS (\"We don't recommend enabling automated machine "
                            "learning\") and trains several recipes, each with HPO: expect several times the "
                            "training cost.")
    paid = config.trainings()
    poll = dataclasses.replace(personalize.poll, training_timeout=guardrails.max_training_hours * 3600)
    with personalize_failures():
        try:
            version = train_solution_version(
                personalize.get_client(), run_names(context, personalize.deployment),
                dataset_group_arn=dataset_group.dataset_group_arn, recipe_arn=config.recipe_arn,
                perform_hpo=config.perform_hpo, perform_auto_ml=config.perform_auto_ml, event_type=config.event_type,
                solution_config=solution_config or None, poll=poll, log=context.log.info,
            )
        except TrainingTooLong as e:
            raise dg.Failure(str(e), allow_retries=False) from e
    # What the bill will say: v2 recipes by the interactions trained on, the others by the billed hours
    # the service reports (trainingHours covers every HPO job).
    billed = dataclasses.replace(RunUsage.from_dict(dataset_group.usage), trainings=paid,
                                 training_hours=version.training_hours, hours_are_total=True)
    training = run_cost(guardrails.prices, billed)
    training_usd = training.training
    version = dataclasses.replace(version, source=dataset_group.source,
                                  cost_so_far_usd=dataset_group.ingestion_usd + training_usd,
                                  estimated_run_usd=dataset_group.estimated_run_usd, usage=billed.to_dict())
    return dg.MaterializeResult(value=version, metadata={
        "solution_arn": version.solution_arn,
        "solution_version_arn": version.solution_version_arn,
        "recipe_arn": config.recipe_arn,
        "status": version.status,
        "reused_earlier_training": version.reused,
        # What the gate compares like with like: the same deployment, the same app database.
        "deployment": personalize.deployment,
        "database": version.source,
        # HPO and AutoML multiply what training costs: flagged so nobody pays for them unknowingly.
        "cost_multipliers": ", ".join(f for f, on in (("HPO", config.perform_hpo), ("AutoML", config.perform_auto_ml))
                                      if on) or "none",
        "training_jobs_paid_for": paid.count,
        "training_hours": version.training_hours,
        "cost/training_usd": round(training_usd, 6),
        "cost/training": training.lines["training"],
        "tuned_hpo_params": dg.MetadataValue.json(version.tuned_hpo_params or {}),
        "metrics": dg.MetadataValue.json(version.metrics),
        **{f"metric/{name}": float(value) for name, value in version.metrics.items()},
        "duration_seconds": round(time.monotonic() - started, 2),
    })


def _last_good_metrics(instance: dg.DagsterInstance, *, deployment: str, database: str,
                       this_run: str) -> tuple[dict[str, float], str] | None:
    """The metrics of the newest solution_version of a successful run of this deployment and database."""
    for record in instance.fetch_materializations(solution_version.key, limit=100).records:
        metadata = record.asset_materialization.metadata
        if record.run_id == this_run or getattr(metadata.get("deployment"), "value", None) != deployment \
                or getattr(metadata.get("database"), "value", None) != database:
            continue
        run = instance.get_run_by_id(record.run_id)
        if run is not None and run.status == dg.DagsterRunStatus.SUCCESS:
            metrics = {k.split("/", 1)[1]: float(v.value) for k, v in metadata.items() if k.startswith("metric/")}
            return metrics, record.run_id
    return None


@dg.asset_check(asset=solution_version, blocking=True,
                description="Offline metrics meet the configured minimums and did not regress beyond tolerance "
                            "against the last successful run of the same deployment and database; otherwise "
                            "batch_output (and the write-back) stop, and yesterday's recommendations stay in place.")
def solution_version_quality(context: dg.AssetCheckExecutionContext, solution_version: SolutionVersionRef,
                             personalize: PersonalizeResource, guardrails: GuardrailsResource) -> dg.AssetCheckResult:
    last = _last_good_metrics(context.instance, deployment=personalize.deployment, database=solution_version.source,
                              this_run=context.run.run_id)
    previous, previous_run = last if last else (None, None)
    problems = quality_problems(solution_version.metrics, previous, minimums=guardrails.quality_minimums,
                                max_relative_drop=guardrails.quality_max_drop)
    for problem in problems:
        context.log.error(problem)
    return dg.AssetCheckResult(passed=not problems, metadata={
        "problems": "\n".join(problems) or "none",
        "compared_with_run": previous_run or "none (first successful run of this deployment and database)",
        "minimums": dg.MetadataValue.json(guardrails.quality_minimums),
        "max_relative_drop": guardrails.quality_max_drop,
    })


@dg.asset(group_name="personalize", kinds={"personalize"}, pool=PERSONALIZE_POOL, io_manager_key=RUN_OUTPUTS,
          check_specs=[dg.AssetCheckSpec("batch_output_complete", asset="batch_output", blocking=True,
                                         description="every requested user got recommendations and no line failed")],
          description="Batch recommendations for every user of the app database (filter + batch inference job).")
def batch_output(context: dg.AssetExecutionContext, config: BatchConfig, solution_version: SolutionVersionRef,
                 personalize: PersonalizeResource, app_db: AppDatabaseResource, object_store: ObjectStoreResource,
                 guardrails: GuardrailsResource):  # -> MaterializeResult[BatchOutputRef] (with checks)
    started = time.monotonic()
    names = run_names(context, personalize.deployment)
    store = object_store.get_store()
    input_uri = object_store.uri(names.run_id, "batch-input", "users.json")
    with store.open_text_write(input_uri) as text:
        users = write_batch_input((str(row[0]) for row in stream_rows(app_db.get_db(),
                                                                      app_db.get_mapping().users_to_score)), text)
    with personalize_failures():
        job = run_batch_job(
            personalize.get_client(), names, dataset_group_arn=solution_version.dataset_group_arn,
            solution_version_arn=solution_version.solution_version_arn, input_uri=input_uri,
            output_prefix=object_store.uri(names.run_id, "batch-output"), num_results=config.num_results,
            filter_expression=config.filter_expression or None, role_arn=personalize.role_arn,
            poll=personalize.poll, log=context.log.info, kms_key_arn=personalize.kms_key_arn,
        )
    stats, preview = BatchOutputStats(), []
    with store.open_text_read(job.output_uri) as f:
        for rec in read_batch_output(f, stats):
            if len(preview) < 10:
                preview.append(list(rec))
    complete = stats.error_lines == 0 and stats.users_with_items == users
    # The service bills the recommendations it returns; S3 the run's files, for as long as they stay.
    run_files = sum(store.size(uri) for uri in store.list(object_store.uri(names.run_id)))
    usage = dataclasses.replace(RunUsage.from_dict(solution_version.usage),
                                recommendations=stats.recommendations + stats.error_lines,
                                **_stored(object_store, run_files))
    month = monthly_cost(guardrails.prices, usage, runs_per_month=guardrails.runs_per_month,
                         history_growth_per_month=guardrails.history_growth_per_month)
    this_run = run_cost(guardrails.prices, usage, month_recommendations=usage.recommendations * guardrails.runs_per_month)
    job = dataclasses.replace(job, users_requested=users, run_cost_usd=this_run.total)
    return dg.MaterializeResult(
        value=job,
        metadata={
            "output_uri": dg.MetadataValue.path(job.output_uri),
            "input_uri": dg.MetadataValue.path(input_uri),
            "batch_inference_job_arn": job.batch_inference_job_arn,
            "solution_version_arn": job.solution_version_arn,
            "filter_arn": job.filter_arn or "",
            "filter_expression": config.filter_expression,
            "status": job.status,
            "num_results": config.num_results,
            "users_requested": users,
            "users_with_recommendations": stats.users_with_items,
            "recommendations": stats.recommendations,
            "error_lines": stats.error_lines,
            "reused_earlier_job": job.reused,
            # What this run cost on AWS prices (on the local backend: what it would have cost), next to what
            # was estimated before its first paid call (expected training hours, every user of the dataset).
            "cost/batch_usd": round(this_run.batch, 6),
            "cost/s3_usd": round(this_run.s3, 6),
            "cost/run_total_usd": round(this_run.total, 6),
            "cost/estimated_run_usd": round(solution_version.estimated_run_usd, 6),
            "cost/monthly_projection_usd": round(month.total, 4),
            "cost/monthly_projection": dg.MetadataValue.md(_cost_md(month)),
            "preview": preview_md(["user_id", "rank", "item_id", "score"], preview),
            "duration_seconds": round(time.monotonic() - started, 2),
        },
        check_results=[dg.AssetCheckResult(
            check_name="batch_output_complete", passed=complete,
            metadata={"users_requested": users, "users_with_recommendations": stats.users_with_items,
                      "error_lines": stats.error_lines, "first_errors": "\n".join(stats.first_errors) or "none"},
        )],
    )


def _stored(object_store: ObjectStoreResource, run_bytes: int) -> dict:
    """How long the run's files bill on S3: deleted after the run (a day at most), or kept for the month."""
    return {"bytes_stored": run_bytes, "days_stored": 30.4 if object_store.keep_run_files else 1.0,
            # CSVs, batch input and output, each read once by Personalize and once by us
            "s3_writes": 5, "s3_reads": 10}


def _cost_md(cost: Cost) -> str:
    rows = [f"| {k} | ${getattr(cost, k):.4f} | {cost.lines.get(k, '')} |"
            for k in ("ingestion", "training", "batch", "s3")]
    return "\n".join(["| dimension | USD | how |", "|---|---|---|", *rows, f"| **total** | **${cost.total:.4f}** | |"])
