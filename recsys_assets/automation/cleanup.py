"""The cleanup job: tear down what a run created, or sweep up orphans, in the service's order; and delete the
runs' files from the object store.

A teardown that leaves anything of ours (a deletion refused, a resource that never settled) fails the op,
which is retried with back-off; the last attempt's failure lists what is left, by type, so the failed run
in the UI says what still exists. The orphan sweep takes it up again at its next tick.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from recsys_assets.assets.common import root_run_id
from recsys_assets.resources import GuardrailsResource, ObjectStoreResource, PersonalizeResource
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.teardown import TeardownReport, run_scope, sweep_scope, teardown

UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
_FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
# Resources' creation times come from AWS's clock, runs' update times from the instance database's.
_CLOCK_SLACK = timedelta(hours=1)
# Most failed teardowns are resources still settling or a throttling storm: minutes later they go.
RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL)


class CleanupConfig(dg.Config):
    run_id: str | None = Field(None, description="Root run id whose Personalize resources to delete.")
    sweep: bool = Field(False, description="Instead of one run: this deployment's resources of runs this instance "
                                           "knows have finished, and of any run when older than the guardrails' "
                                           "orphan_max_age_hours; never those of unfinished runs.")
    dry_run: bool = Field(False, description="Only log, in order, what would be deleted.")
    delete_run_files: bool = Field(True, description="Also delete the run's files, <object store prefix>/<run id>/ "
                                                     "(a sweep: those of the finished runs it sweeps), unless the "
                                                     "object store keeps them (RECSYS_KEEP_RUN_FILES). False while "
                                                     "the run still reads them.")


@dg.op(retry_policy=RETRY_POLICY,
       description="Deletes what we own (ownership tags; schemas by name prefix) in the service's order, waiting for "
                   "each deletion, then the runs' files; fails, after retries, listing what it could not delete.")
def teardown_personalize_resources(context: dg.OpExecutionContext, config: CleanupConfig,
                                   personalize: PersonalizeResource, guardrails: GuardrailsResource,
                                   object_store: ObjectStoreResource) -> dg.Output[dict]:
    if bool(config.run_id) == config.sweep:
        raise dg.Failure("cleanup_job needs exactly one of run_id or sweep: true", allow_retries=False)
    client = personalize.get_client()
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
        files, files_failed = _delete_run_files(context, object_store, file_runs, config.dry_run)
    summary = {"deleted": report.deleted, "kept": report.kept}
    details = {**summary, "failed": report.failed, "files": files, "files_failed": files_failed}
    if report.failed or files_failed:
        left = report.failed_by_type()
        if files_failed:
            left["files"] = sorted(files_failed)
        raise dg.Failure(description=_what_is_left(context, report, files_failed),
                         metadata={"left": dg.MetadataValue.json(left), "report": dg.MetadataValue.json(details)})
    verb = "would_delete" if config.dry_run else "deleted"
    return dg.Output(summary, metadata={
        "mode": "sweep" if config.sweep else f"run {config.run_id}", "dry_run": config.dry_run,
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


def _delete_run_files(context: dg.OpExecutionContext, object_store: ObjectStoreResource, run_ids: set[str],
                      dry_run: bool) -> tuple[dict[str, int], dict[str, str]]:
    """Folder -> files deleted there (with dry_run: that would be), and folder -> why it could not be emptied."""
    store = object_store.get_store()
    files, failed = {}, {}
    for run_id in sorted(run_ids):
        folder = object_store.run_folder(run_id)
        try:
            found = store.list(folder) if dry_run else store.delete_prefix(folder)
        except (OSError, ClientError, BotoCoreError) as e:
            failed[folder] = str(e)
            context.log.warning(f"could not delete the files under {folder}: {e}")
            continue
        if found:
            files[folder] = len(found)
            context.log.info(f"{'would delete' if dry_run else 'deleted'} {len(found)} files under {folder}")
    return files, failed


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


@dg.job(tags={"dagster/max_runtime": 4 * 3600}, description="Tear down the Personalize resources of one run, "
                                                             "or sweep up orphans.")
def cleanup_job():
    teardown_personalize_resources()


def cleanup_run_config(run_id: str | None = None, *, sweep: bool = False, dry_run: bool = False,
                       delete_run_files: bool = True) -> dict:
    config = {"run_id": run_id, "sweep": sweep, "dry_run": dry_run, "delete_run_files": delete_run_files}
    return {"ops": {"teardown_personalize_resources": {"config": config}}}
