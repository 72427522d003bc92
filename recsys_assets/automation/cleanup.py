"""The cleanup job: tear down every Personalize resource one run created, in the service's order."""


import dagster as dg
from pydantic import Field

from recsys_assets.resources import PersonalizeResource
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.teardown import teardown_run


class CleanupConfig(dg.Config):
    run_id: str = Field(description="Root run id of the run whose Personalize resources to delete.")


@dg.op(description="Deletes what the run created (ownership tags; schemas by name prefix) and waits for each deletion.")
def teardown_personalize_resources(context: dg.OpExecutionContext, config: CleanupConfig,
                                   personalize: PersonalizeResource) -> dg.Output[dict]:
    names = RunNames(deployment=personalize.deployment, run_id=config.run_id)
    report = teardown_run(personalize.get_client(), names, personalize.poll, context.log.info)
    for arn, why in report.kept.items():
        context.log.warning(f"left {arn}: {why}")
    summary = {"deleted": report.deleted, "kept": report.kept}
    return dg.Output(summary, metadata={"run_id": config.run_id, "deleted": len(report.deleted),
                                        "kept": len(report.kept), "report": dg.MetadataValue.json(summary)})


@dg.job(tags={"dagster/max_runtime": 4 * 3600}, description="Tear down the Personalize resources of one run.")
def cleanup_job():
    teardown_personalize_resources()


def cleanup_run_config(run_id: str) -> dict:
    return {"ops": {"teardown_personalize_resources": {"config": {"run_id": run_id}}}}
