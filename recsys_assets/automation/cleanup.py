"""The cleanup job: tear down what a run created, or sweep up orphans, in the service's order."""

import dagster as dg
from pydantic import Field

from recsys_assets.assets.common import root_run_id
from recsys_assets.resources import GuardrailsResource, PersonalizeResource
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.teardown import run_scope, sweep_scope, teardown

_UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


class CleanupConfig(dg.Config):
    run_id: str | None = Field(None, description="Root run id whose Personalize resources to delete.")
    sweep: bool = Field(False, description="Instead of one run: every resource of this deployment older than "
                                           "the guardrails' orphan_max_age_hours, except those of unfinished runs.")
    dry_run: bool = Field(False, description="Only log, in order, what would be deleted.")


@dg.op(description="Deletes what we own (ownership tags; schemas by name prefix) in the service's order, "
                   "waiting for each deletion.")
def teardown_personalize_resources(context: dg.OpExecutionContext, config: CleanupConfig,
                                   personalize: PersonalizeResource, guardrails: GuardrailsResource) -> dg.Output[dict]:
    if bool(config.run_id) == config.sweep:
        raise dg.Failure("cleanup_job needs exactly one of run_id or sweep: true", allow_retries=False)
    client = personalize.get_client()
    if config.run_id:
        scope = run_scope(client, RunNames(deployment=personalize.deployment, run_id=config.run_id))
    else:
        # A long run's resources are not orphans: runs still going keep theirs.
        unfinished = context.instance.get_runs(dg.RunsFilter(statuses=_UNFINISHED))
        keep = {root_run_id(r) for r in unfinished}
        scope = sweep_scope(client, personalize.deployment, guardrails.orphan_max_age_hours * 3600, keep)
    report = teardown(client, scope, personalize.poll, context.log.info, dry_run=config.dry_run)
    for arn, why in report.kept.items():
        context.log.warning(f"left {arn}: {why}")
    summary = {"deleted": report.deleted, "kept": report.kept}
    return dg.Output(summary, metadata={
        "mode": "sweep" if config.sweep else f"run {config.run_id}", "dry_run": config.dry_run,
        "would_delete" if config.dry_run else "deleted": len(report.deleted), "kept": len(report.kept),
        "report": dg.MetadataValue.json(summary)})


@dg.job(tags={"dagster/max_runtime": 4 * 3600}, description="Tear down the Personalize resources of one run, "
                                                             "or sweep up orphans.")
def cleanup_job():
    teardown_personalize_resources()


def cleanup_run_config(run_id: str | None = None, *, sweep: bool = False, dry_run: bool = False) -> dict:
    config = {"run_id": run_id, "sweep": sweep, "dry_run": dry_run}
    return {"ops": {"teardown_personalize_resources": {"config": config}}}
