"""The cleanup job: tear down what a run created, or (the default) sweep up what finished runs left and orphans,
in the service's order; and delete the runs' files from the object store.

A teardown that leaves anything of ours (a deletion refused, a resource that never settled) fails the op,
which is retried with back-off; the last attempt's failure lists what is left, by type, so the failed run
in the UI says what still exists. The orphan sweep takes it up again at its next tick.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg
from pydantic import Field

from recsys_assets.assets.common import root_run_id
from recsys_assets.resources import GuardrailsResource, ObjectStoreResource, PersonalizeResource
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.teardown import TeardownReport, delete_run_files, run_scope, sweep_scope, teardown

UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
_FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
# Resources' creation times come from AWS's clock, runs' update times from the instance database's.
_CLOCK_SLACK = timedelta(hours=1)
# Most failed teardowns are resources still settling or a throttling storm: minutes later they go.
RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL)


class CleanupConfig(dg.Config):
    run_id: str | None = Field(None, description="Root run id whose Personalize resources (and files) to delete. "
                                                 "Unset (the default): a sweep of this deployment, what the orphan "
                                                 "sweep schedule runs.")
    dry_run: bool = Field(False, description="Delete nothing: only log, in order, what it would delete.")
    delete_run_files: bool = Field(True, description="Also delete the run's files, <object store prefix>/<run id>/ "
                                                     "(a sweep: those of the finished runs it sweeps), unless the "
                                                     "object store keeps them (RECSYS_KEEP_RUN_FILES). False while "
                                                     "the run still reads them.")


@dg.op(retry_policy=RETRY_POLICY,
       description="With run_id: deletes what that run created. Without (the default config): sweeps this "
                   "deployment: what runs this instance saw finish left, at once, and any of its resources older "
                   "than the guardrails' orphan_max_age_hours (RECSYS_ORPHAN_MAX_AGE_HOURS); never those of runs "
                   "still going. Deletes only what we own (ownership tags; schemas by name prefix), in the "
                   "service's order, waiting for each deletion, then the runs' files; fails, after retries, "
                   "listing what it could not delete. dry_run: deletes nothing, logs what it would delete.")
def teardown_personalize_resources(context: dg.OpExecutionContext, config: CleanupConfig,
                                   personalize: PersonalizeResource, guardrails: GuardrailsResource,
                                   object_store: ObjectStoreResource) -> dg.Output[dict]:
    client = personalize.get_client()
    if config.dry_run:
        context.log.info("dry run: touches nothing, only logs, in order, what it would delete")
    if config.run_id:
        scope = run_scope(client, RunNames(deployment=personalize.deployment, run_id=config.run_id))
        file_runs = {config.run_id}
    else:
        keep, finished = _sweep_runs(context.instance, guardrails.orphan_max_age_hours)
        scope = sweep_scope(client, personalize.deployment, guardrails.orphan_max_age_hours * 3600, keep,
                            {root_run_id(r) for r in finished})
        # A re-execution's own records (run_outputs) lie under its run id, the rest under its root's.
        file_runs = {run_id for r in finished for run_id in (r.run_id, root_run_id(r))}
    report = teardown(client, scope, personalize.poll, context.log.info, dry_run=config.dry_run)
    for arn, why in report.kept.items():
        context.log.warning(f"left {arn}: {why}")
    files, files_failed = {}, {}
    if config.delete_run_files and object_store.keep_run_files:
        context.log.info("keeping the runs' files: the object store's keep_run_files (RECSYS_KEEP_RUN_FILES) is set")
    elif config.delete_run_files:
        files, files_failed = delete_run_files(object_store.get_store(),
                                               [object_store.run_folder(r) for r in sorted(file_runs)],
                                               context.log.info, dry_run=config.dry_run)
    # A dry run's output and metadata say "would_delete", never "deleted".
    verb = "would_delete" if config.dry_run else "deleted"
    summary = {verb: report.deleted, "kept": report.kept}
    details = {**summary, "failed": report.failed, f"files_{verb}": files, "files_failed": files_failed}
    if report.failed or files_failed:
        left = report.failed_by_type()
        if files_failed:
            left["files"] = sorted(files_failed)
        raise dg.Failure(description=_what_is_left(context, report, files_failed),
                         metadata={"left": dg.MetadataValue.json(left), "report": dg.MetadataValue.json(details)})
    return dg.Output(summary, metadata={
        "mode": f"run {config.run_id}" if config.run_id else "sweep", "dry_run": config.dry_run,
        verb: len(report.deleted), f"files_{verb}": sum(files.values()), "kept": len(report.kept),
        "report": dg.MetadataValue.json(details)})


def _sweep_runs(instance: dg.DagsterInstance, max_age_hours: float) -> tuple[set[str], list[dg.DagsterRun]]:
    """Root run ids whose resources and files the sweep must spare, and the finished runs it sweeps at any age.

    Spared: every root with a run not finished (a re-execution keeps its root's), or a failed run Dagster is
    about to retry (the retry adopts what it made). Only runs updated since the cut-off are looked at: a
    resource younger than the cut-off was made by a run that has been running since, and older ones go by
    age anyway.
    """
    since = datetime.now(timezone.utc) - timedelta(hours=max_age_hours) - _CLOCK_SLACK
    ended = instance.get_runs(dg.RunsFilter(statuses=_FINISHED, updated_after=since))
    going = [*instance.get_runs(dg.RunsFilter(statuses=UNFINISHED)),
             *(r for r in ended if r.is_complete_and_waiting_to_retry)]
    keep = {root_run_id(r) for r in going}
    return keep, [r for r in ended if root_run_id(r) not in keep and r.job_name != cleanup_job.name]


def _what_is_left(context: dg.OpExecutionContext, report: TeardownReport, files_failed: dict[str, str]) -> str:
    policy = context.job_def.get_retry_policy_for_handle(context.op_handle)
    attempts = 1 + (policy.max_retries if policy else 0)
    lines = [f"cleanup could not delete everything of ours (attempt {context.retry_number + 1} of {attempts}; "
             f"the orphan sweep tries again). Left:"]
    for kind, arns in report.failed_by_type().items():
        lines.append(f"{kind} ({len(arns)}):")
        lines += [f"  {arn}: {report.failed[arn]}" for arn in arns]
    if files_failed:
        lines.append(f"files ({len(files_failed)} folders):")
        lines += [f"  {folder}: {why}" for folder, why in files_failed.items()]
    return "\n".join(lines)


@dg.job(tags={"dagster/max_runtime": 4 * 3600},
        description="Tears down the Personalize resources (and files) of one run (run_id), or, by default, sweeps "
                    "this deployment: what finished runs left, and orphans older than the cut-off.")
def cleanup_job():
    teardown_personalize_resources()


def cleanup_run_config(run_id: str | None = None, *, sweep: bool = False, dry_run: bool = False,
                       delete_run_files: bool = True) -> dict:
    """The cleanup job's run config: of ``run_id``'s run, or without one a sweep (``sweep=True`` says so at the
    call site)."""
    if sweep and run_id:
        raise ValueError("a cleanup is of one run or a sweep, not both")
    config = {"run_id": run_id, "dry_run": dry_run, "delete_run_files": delete_run_files}
    return {"ops": {"teardown_personalize_resources": {"config": config}}}
