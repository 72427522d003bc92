"""Ordered, idempotent teardown of what one run created, and nothing else.

Order is the service's [personalize-api.md §1.5]: campaigns -> in-flight solution versions stopped ->
solutions -> event trackers -> filters -> datasets (after in-flight imports and batch jobs settle) ->
dataset group -> schemas. Each stage waits until describe raises ResourceNotFoundException before the
next begins. Only dataset groups carrying this run's ownership tags are touched; schemas, which cannot
be tagged, are matched by the run's name prefix and left (and reported) while something uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import ClientError

from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import PollSettings, wait_for_status, wait_until_deleted

IN_FLIGHT = ("CREATE PENDING", "CREATE IN_PROGRESS", "CREATE STOPPING")


@dataclass
class TeardownReport:
    deleted: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # arn -> why it was left


def _tags(client, arn: str) -> dict[str, str]:
    return {t["tagKey"]: t["tagValue"] for t in client.list_tags_for_resource(resourceArn=arn)["tags"]}


def owned_dataset_groups(client, names: RunNames) -> list[str]:
    return [g["datasetGroupArn"] for g in rt.DATASET_GROUP.list(client)
            if names.owns(_tags(client, g["datasetGroupArn"]))]


def teardown_run(client, names: RunNames, poll: PollSettings, log: Callable[[str], None]) -> TeardownReport:
    report = TeardownReport()

    def settle(rtype: rt.ResourceType, arns: list[str]) -> None:
        """Wait until nothing in ``arns`` is still being created (a delete would be refused)."""
        for arn in arns:
            try:
                wait_for_status(lambda arn=arn: rtype.describe(client, arn), arn, poll, log,
                                done=lambda status: status not in IN_FLIGHT, failed=())
            except ClientError as e:
                if rt.error_code(e) != "ResourceNotFoundException":
                    raise

    def delete_all(rtype: rt.ResourceType, arns: list[str]) -> None:
        settle(rtype, arns)
        for arn in arns:
            try:
                rtype.delete(client, arn)
                log(f"deleting {arn}")
            except ClientError as e:
                code = rt.error_code(e)
                if code == "ResourceNotFoundException":
                    continue
                # Already DELETE PENDING from an earlier, interrupted teardown: just wait for it.
                if code != "ResourceInUseException" or "being deleted" not in str(e):
                    raise
        for arn in arns:
            wait_until_deleted(lambda arn=arn: rtype.describe(client, arn), arn, poll, log)
            report.deleted.append(arn)

    for group in owned_dataset_groups(client, names):
        solutions = [s["solutionArn"] for s in rt.SOLUTION.list(client, datasetGroupArn=group)]
        versions = {s: rt.SOLUTION_VERSION.list(client, solutionArn=s) for s in solutions}
        delete_all(rt.CAMPAIGN, [c["campaignArn"] for s in solutions for c in rt.CAMPAIGN.list(client, solutionArn=s)])
        in_flight = [v["solutionVersionArn"] for vs in versions.values() for v in vs if v["status"] in IN_FLIGHT]
        for arn in in_flight:
            client.stop_solution_version_creation(solutionVersionArn=arn)
            log(f"stopping training {arn}")
        settle(rt.SOLUTION_VERSION, in_flight)
        # Batch and import jobs can't be stopped; datasets can't go while they run.
        settle(rt.BATCH_INFERENCE_JOB, [j["batchInferenceJobArn"] for vs in versions.values() for v in vs
                                        for j in rt.BATCH_INFERENCE_JOB.list(client, solutionVersionArn=v["solutionVersionArn"])])
        delete_all(rt.SOLUTION, solutions)
        delete_all(rt.EVENT_TRACKER, [t["eventTrackerArn"] for t in rt.EVENT_TRACKER.list(client, datasetGroupArn=group)])
        delete_all(rt.FILTER, [f["filterArn"] for f in rt.FILTER.list(client, datasetGroupArn=group)])
        datasets = [d["datasetArn"] for d in rt.DATASET.list(client, datasetGroupArn=group)]
        settle(rt.DATASET_IMPORT_JOB, [j["datasetImportJobArn"] for d in datasets
                                       for j in rt.DATASET_IMPORT_JOB.list(client, datasetArn=d)])
        delete_all(rt.DATASET, datasets)
        delete_all(rt.DATASET_GROUP, [group])
    for schema in rt.SCHEMA.list(client):
        if not schema["name"].startswith(names.schema_prefix):
            continue
        try:
            client.delete_schema(schemaArn=schema["schemaArn"])
            report.deleted.append(schema["schemaArn"])
            log(f"deleted {schema['schemaArn']}")
        except ClientError as e:
            if rt.error_code(e) != "ResourceInUseException":
                raise
            report.kept[schema["schemaArn"]] = str(e)
            log(f"kept {schema['schemaArn']}: still in use ({e})")
    return report
