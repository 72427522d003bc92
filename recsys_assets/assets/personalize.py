"""dataset_group, solution_version, batch_output: the paid part, on Personalize or the local engine.

Each receives its upstream's record of this run (``workflow.refs``, through the run-scoped IO manager) and
runs in the ``personalize`` pool, so an instance runs one Personalize step at a time.
"""

import dataclasses
import statistics
import time
from itertools import islice
from typing import Iterator, Mapping

import dagster as dg

from recsys_assets.assets.common import (
    OWNERS,
    PERSONALIZE_POOL,
    clean_up_run,
    cleaned_up_on_failure,
    personalize_failures,
    preview_md,
    run_names,
)
from recsys_assets.export.batch_users import UsersToScoreError, users_to_score
from recsys_assets.personalize_rules.limits import GB
from recsys_assets.resources import (
    RUN_OUTPUTS,
    AppDatabaseResource,
    GuardrailsResource,
    ObjectStoreResource,
    PersonalizeResource,
)
from recsys_assets.assets.run_config import BatchConfig, TrainingConfig, run_configs, run_problems
from recsys_assets.workflow import resource_types as rt
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
          owners=OWNERS, tags={"layer": "personalize"}, code_version="1",
          description="Dataset group, schemas, the three datasets and their FULL imports, all ACTIVE.")
def dataset_group(context: dg.AssetExecutionContext, users_csv: ExportedCsv, items_csv: ExportedCsv,
                  interactions_csv: ExportedCsv, personalize: PersonalizeResource, object_store: ObjectStoreResource,
                  app_db: AppDatabaseResource, guardrails: GuardrailsResource) -> dg.MaterializeResult[DatasetGroupRef]:
    with cleaned_up_on_failure(context, personalize, object_store) as cleanup:
        cleanup.personalize = False  # until the checks and the preflight have passed
        started = time.monotonic()
        exports = {e.dataset: e for e in (users_csv, items_csv, interactions_csv)}
        for export in exports.values():
            if not export.valid:
                raise dg.Failure(f"{export.dataset}_csv of this run failed validation ({export.error}); fix it before "
                                 "importing.", allow_retries=False)
        configs, problems = run_configs(context.run.run_config)
        if not problems:
            problems = run_problems(configs, exports, personalize, app_db)
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
        usage = RunUsage(bytes_ingested=bytes_ingested, interactions=interactions_csv.rows,
                         trainings=training.trainings(),
                         training_hours=guardrails.expected_training_hours, recommendations=recommendations,
                         # the batch output: some 30 bytes per recommendation
                         **_stored(object_store, bytes_ingested + recommendations * 30))
        estimate = _run_cost(guardrails, usage)
        try:
            check_budget(estimate, guardrails.budget_usd_per_run, what="this run")
        except BudgetExceeded as e:
            raise dg.Failure(f"budget guard: {e}", allow_retries=False) from e
        cleanup.personalize = True
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
            **{f"{ds}_import_arn": arn for ds, arn in group.import_job_arns.items()},
            **{f"{ds}_schema_arn": arn for ds, arn in group.schema_arns.items()},
            "status": "ACTIVE",
            "imports_reused": ", ".join(group.imports_reused) or "none",
            "preflight_unverified": "\n".join(preflight.unverified) or "none",
            "gb_ingested": round(bytes_ingested / GB, 6),
            "estimated_cost_usd": round(estimate.total, 6),
            "cost_estimate": _cost_md(estimate),
            "duration_seconds": round(time.monotonic() - started, 2),
        })


@dg.asset(group_name="personalize", kinds={"personalize"}, pool=PERSONALIZE_POOL, io_manager_key=RUN_OUTPUTS,
          owners=OWNERS, tags={"layer": "personalize"}, code_version="1",
          description="A solution (automatic training off) and a trained solution version, with its offline metrics.")
def solution_version(context: dg.AssetExecutionContext, config: TrainingConfig, dataset_group: DatasetGroupRef,
                     personalize: PersonalizeResource, object_store: ObjectStoreResource,
                     guardrails: GuardrailsResource) -> dg.MaterializeResult[SolutionVersionRef]:
    with cleaned_up_on_failure(context, personalize, object_store):
        started = time.monotonic()
        solution_config = config.solution_config()
        if config.perform_auto_ml:
            context.log.warning("performAutoML is deprecated by AWS (\"We don't recommend enabling automated machine "
                                "learning\") and trains several recipes, each with HPO: expect several times the "
                                "training cost.")
        paid = config.trainings()
        # Trainings like this one: the recipe and the number of training jobs (HPO, AutoML) set how long it takes.
        expected = _typical_seconds(context.instance, context.asset_key, "training_minutes",
                                    reused_key="reused_earlier_training", this_run=context.run.run_id,
                                    deployment=personalize.deployment, recipe_arn=config.recipe_arn,
                                    training_jobs_paid_for=paid.count)
        poll = dataclasses.replace(personalize.poll, training_timeout=guardrails.max_training_hours * 3600,
                                   expected={rt.SOLUTION_VERSION: expected})
        training_started = time.monotonic()
        with personalize_failures():
            try:
                version = train_solution_version(
                    personalize.get_client(), run_names(context, personalize.deployment),
                    dataset_group_arn=dataset_group.dataset_group_arn, recipe_arn=config.recipe_arn,
                    perform_hpo=config.perform_hpo, perform_auto_ml=config.perform_auto_ml,
                    event_type=config.event_type,
                    solution_config=solution_config or None, poll=poll, log=context.log.info,
                )
            except TrainingTooLong as e:
                raise dg.Failure(str(e), allow_retries=False) from e
        training_seconds = time.monotonic() - training_started
        # What the bill will say: v2 recipes by the interactions trained on, the others by the billed hours
        # the service reports (trainingHours covers every HPO job).
        usage = RunUsage.from_dict(dataset_group.usage)
        billed = dataclasses.replace(usage, trainings=paid, training_hours=version.training_hours, hours_are_total=True)
        training, estimated = run_cost(guardrails.prices, billed), run_cost(guardrails.prices, usage)
        training_usd = training.training
        version = dataclasses.replace(version, source=dataset_group.source,
                                      cost_so_far_usd=dataset_group.ingestion_usd + training_usd,
                                      estimated_run_usd=dataset_group.estimated_run_usd, usage=billed.to_dict())
        last = _last_good_metrics(context.instance, deployment=personalize.deployment, database=version.source,
                                  protocol=personalize.metrics_protocol, this_run=context.run.run_id)
        return dg.MaterializeResult(value=version, metadata={
            "solution_arn": version.solution_arn,
            "solution_version_arn": version.solution_version_arn,
            "recipe_arn": config.recipe_arn,
            "status": version.status,
            "reused_earlier_training": version.reused,
            # What the gate compares like with like: the same deployment, the same app database, metrics computed
            # the same way (the service's, or the local engine's of the same protocol version).
            "deployment": personalize.deployment,
            "database": version.source,
            "metrics_protocol": personalize.metrics_protocol,
            # HPO and AutoML multiply what training costs: flagged so nobody pays for them unknowingly.
            "cost_multipliers": ", ".join(f for f, on in (("HPO", config.perform_hpo),
                                                          ("AutoML", config.perform_auto_ml))
                                          if on) or "none",
            "training_jobs_paid_for": paid.count,
            "training_hours": version.training_hours,  # billed, as the service reports them
            "training_minutes": round(training_seconds / 60, 2),  # wall-clock; read back as the next run's expectation
            "training_cost_usd": round(training_usd, 6),
            "training_cost": _versus(estimated, training, "training"),
            "tuned_hpo_params": dg.MetadataValue.json(version.tuned_hpo_params or {}),
            "metrics": _metrics_md(version.metrics, last[0] if last else None, guardrails.quality_minimums),
            **{_short(name): float(v) for name, v in version.metrics.items() if _short(name) in PLOTTED_METRICS},
            "metrics_json": dg.MetadataValue.json(version.metrics),  # all of them, for the quality gate of later runs
            "duration_seconds": round(time.monotonic() - started, 2),
        })


# Personalize's metric names, shortened in the metrics table and the keys Dagster plots.
_ABBREVIATIONS = {"normalized_discounted_cumulative_gain": "ndcg", "mean_reciprocal_rank": "mrr"}
PLOTTED_METRICS = ("ndcg_at_10", "precision_at_10", "coverage")


def _short(metric: str) -> str:
    for long, short in _ABBREVIATIONS.items():
        metric = metric.replace(long, short)
    return metric


def _value(metadata: Mapping[str, dg.MetadataValue], key: str):
    return getattr(metadata.get(key), "value", None)


def _earlier(instance: dg.DagsterInstance, asset: dg.AssetKey, *, this_run: str,
             **same) -> Iterator[tuple[str, Mapping[str, dg.MetadataValue]]]:
    """(run id, metadata) of the materializations of ``asset`` in other runs whose metadata has the values
    ``same`` (deployment=..., ...), newest first."""
    for record in instance.fetch_materializations(asset, limit=100).records:
        metadata = record.asset_materialization.metadata
        if record.run_id != this_run and all(_value(metadata, k) == v for k, v in same.items()):
            yield record.run_id, metadata


def _last_good_metrics(instance: dg.DagsterInstance, *, deployment: str, database: str, protocol: str,
                       this_run: str) -> tuple[dict[str, float], str] | None:
    """The metrics of the newest solution_version of a successful run of this deployment and database whose
    metrics were computed the same way (``metrics_protocol``: a run recorded before it, or on the other backend,
    or with an earlier engine split, is no baseline: its numbers measure other test users)."""
    for run_id, metadata in _earlier(instance, solution_version.key, this_run=this_run, deployment=deployment,
                                     database=database, metrics_protocol=protocol):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status == dg.DagsterRunStatus.SUCCESS:
            # metrics_json is older than metrics_protocol: every materialization that matches has it.
            return {name: float(value) for name, value in _value(metadata, "metrics_json").items()}, run_id
    return None


def _typical_seconds(instance: dg.DagsterInstance, asset: dg.AssetKey, minutes_key: str, *, reused_key: str,
                     this_run: str, **same) -> float | None:
    """How long ``asset``'s wait took on the last five runs like this one (the metadata values ``same``, e.g.
    the deployment) that did not reuse an earlier attempt's work: the median of their ``minutes_key``, in
    seconds; None before the first such run."""
    earlier = _earlier(instance, asset, this_run=this_run, **same)
    minutes = list(islice((float(m[minutes_key].value) for _, m in earlier
                           if minutes_key in m and not _value(m, reused_key)), 5))
    return statistics.median(minutes) * 60 if minutes else None


def _metrics_md(current: dict[str, float], baseline: dict[str, float] | None,
                minimums: dict[str, float]) -> dg.MetadataValue:
    """Each metric next to what the quality gate holds it to: the last good run's value and the minimum."""
    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    rows = []
    for name in sorted(set(current) | set(minimums)):
        value, before = current.get(name), (baseline or {}).get(name)
        change = f"{(value - before) / before:+.1%}" if value is not None and before else ""
        rows.append([_short(name), "missing" if value is None else number(value), number(before), change,
                     number(minimums.get(name))])
    return preview_md(["metric", "value", "last good run", "change", "minimum"], rows)


@dg.asset_check(asset=solution_version, blocking=True,
                description="Offline metrics meet the configured minimums and did not regress beyond tolerance "
                            "against the last successful run of the same deployment and database whose metrics "
                            "were computed the same way (metrics_protocol); otherwise "
                            "batch_output (and the write-back) stop, and yesterday's recommendations stay in place.")
def solution_version_quality(context: dg.AssetCheckExecutionContext, solution_version: SolutionVersionRef,
                             personalize: PersonalizeResource, object_store: ObjectStoreResource,
                             guardrails: GuardrailsResource) -> dg.AssetCheckResult:
    last = _last_good_metrics(context.instance, deployment=personalize.deployment, database=solution_version.source,
                              protocol=personalize.metrics_protocol, this_run=context.run.run_id)
    previous, previous_run = last if last else (None, None)
    problems = quality_problems(solution_version.metrics, previous, minimums=guardrails.quality_minimums,
                                max_relative_drop=guardrails.quality_max_drop)
    for problem in problems:
        context.log.error(problem)
    if problems:  # the run stops here: nothing will use what it made
        clean_up_run(context, personalize, object_store)
    return dg.AssetCheckResult(passed=not problems, metadata={
        "problems": "\n".join(problems) or "none",
        "metrics": _metrics_md(solution_version.metrics, previous, guardrails.quality_minimums),
        "compared_with_run": previous_run or ("none (first successful run of this deployment and database with "
                                              f"metrics protocol {personalize.metrics_protocol})"),
        "max_relative_drop": guardrails.quality_max_drop,
    })


@dg.asset(group_name="personalize", kinds={"personalize"}, pool=PERSONALIZE_POOL, io_manager_key=RUN_OUTPUTS,
          owners=OWNERS, tags={"layer": "personalize"}, code_version="1",
          check_specs=[dg.AssetCheckSpec("batch_output_complete", asset="batch_output", blocking=True,
                                         description="every requested user got recommendations and no line failed")],
          description="Batch recommendations for every user of the app database (filter + batch inference job).")
def batch_output(context: dg.AssetExecutionContext, config: BatchConfig, solution_version: SolutionVersionRef,
                 personalize: PersonalizeResource, app_db: AppDatabaseResource, object_store: ObjectStoreResource,
                 guardrails: GuardrailsResource):  # -> MaterializeResult[BatchOutputRef] (with checks)
    with cleaned_up_on_failure(context, personalize, object_store):
        started = time.monotonic()
        names = run_names(context, personalize.deployment)
        store = object_store.get_store()
        input_uri = object_store.uri(names.run_id, "batch-input", "users.json")
        try:
            with store.open_text_write(input_uri) as text:
                users = write_batch_input(users_to_score(app_db.get_db(), app_db.get_mapping()), text)
        except UsersToScoreError as e:  # checked at the run's start; the table may have gone since
            raise dg.Failure(str(e), allow_retries=False) from e
        expected = _typical_seconds(context.instance, context.asset_key, "batch_minutes",
                                    reused_key="reused_earlier_job",
                                    this_run=context.run.run_id, deployment=personalize.deployment)
        batch_started = time.monotonic()
        with personalize_failures():
            job = run_batch_job(
                personalize.get_client(), names, dataset_group_arn=solution_version.dataset_group_arn,
                solution_version_arn=solution_version.solution_version_arn, input_uri=input_uri,
                output_prefix=object_store.uri(names.run_id, "batch-output"), num_results=config.num_results,
                filter_expression=config.filter_expression or None, role_arn=personalize.role_arn,
                poll=dataclasses.replace(personalize.poll, expected={rt.BATCH_INFERENCE_JOB: expected}),
                log=context.log.info, kms_key_arn=personalize.kms_key_arn,
            )
        batch_seconds = time.monotonic() - batch_started
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
        this_run = _run_cost(guardrails, usage)
        # The estimate's usage is solution_version's with the training as expected, not as billed.
        estimate = _run_cost(guardrails, dataclasses.replace(RunUsage.from_dict(solution_version.usage),
                                                             training_hours=guardrails.expected_training_hours,
                                                             hours_are_total=False))
        job = dataclasses.replace(job, users_requested=users, run_cost_usd=this_run.total)
        if not complete:  # the blocking check stops the run here
            clean_up_run(context, personalize, object_store)
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
                "users_covered": stats.users_with_items,
                "recommendations": stats.recommendations,
                "error_lines": stats.error_lines,
                "reused_earlier_job": job.reused,
                "deployment": personalize.deployment,
                "batch_minutes": round(batch_seconds / 60, 2),  # read back as the next run's expectation
                # What this run cost on AWS prices (on the local backend: what it would have cost), next to what
                # was estimated before its first paid call (expected training hours, every user of the dataset).
                "cost_usd": round(this_run.total, 6),
                "estimated_cost_usd": round(solution_version.estimated_run_usd, 6),
                "monthly_cost_usd": round(month.total, 4),
                "cost": _cost_versus_md(estimate, this_run, month),
                "preview": preview_md(["user_id", "rank", "item_id", "score"], preview),
                "duration_seconds": round(time.monotonic() - started, 2),
            },
            check_results=[dg.AssetCheckResult(
                check_name="batch_output_complete", passed=complete,
                metadata={"users_requested": users, "users_covered": stats.users_with_items,
                          "error_lines": stats.error_lines, "first_errors": "\n".join(stats.first_errors) or "none"},
            )],
        )


def _stored(object_store: ObjectStoreResource, run_bytes: int) -> dict:
    """How long the run's files bill on S3: deleted after the run (a day at most), or kept for the month."""
    return {"bytes_stored": run_bytes, "days_stored": 30.4 if object_store.keep_run_files else 1.0,
            # CSVs, batch input and output, each read once by Personalize and once by us
            "s3_writes": 5, "s3_reads": 10}


DIMENSIONS = ("ingestion", "training", "batch", "s3")


def _run_cost(guardrails: GuardrailsResource, usage: RunUsage) -> Cost:
    """One run's bill, its batch job priced on the tier of a month of such runs."""
    return run_cost(guardrails.prices, usage, month_recommendations=usage.recommendations * guardrails.runs_per_month)


def _versus(estimate: Cost, billed: Cost, dimension: str) -> str:
    """What a dimension was estimated on and billed for, in a line."""
    how, estimated = billed.lines[dimension], estimate.lines[dimension]
    return f"as estimated: {how}" if how == estimated else f"estimated {estimated}, billed {how}"


def _cost_md(cost: Cost) -> dg.MetadataValue:
    rows = [[k, f"${getattr(cost, k):.4f}", cost.lines[k]] for k in DIMENSIONS]
    return preview_md(["dimension", "USD", "how"], [*rows, ["**total**", f"**${cost.total:.4f}**", ""]])


def _cost_versus_md(estimate: Cost, billed: Cost, month: Cost) -> dg.MetadataValue:
    """The run as estimated before its first paid call and as billed, per dimension, and a month of such runs."""
    ratio = f"billed {billed.total / estimate.total:.0%} of the estimate" if estimate.total else ""
    return preview_md(["dimension", "estimated", "billed", "a month of runs", "difference"], [
        *([k, f"${getattr(estimate, k):.4f}", f"${getattr(billed, k):.4f}", f"${getattr(month, k):.2f}",
           _versus(estimate, billed, k)] for k in DIMENSIONS),
        ["**total**", f"**${estimate.total:.4f}**", f"**${billed.total:.4f}**", f"**${month.total:.2f}**", ratio]])
