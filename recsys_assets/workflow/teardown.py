"""Ordered, idempotent teardown of what we own on Personalize, and nothing else.

Order is the service's [personalize-api.md §1.5]: campaigns and recommenders -> in-flight solution
versions stopped -> solutions -> event trackers -> metric attributions -> filters -> datasets (after
in-flight imports and batch jobs settle) -> dataset group -> schemas. Each stage waits until describe
raises ResourceNotFoundException before the next begins.

Ownership is checked on every resource, not just the dataset group: anything without our tags (a
filter a colleague added to our group, say) is left and reported, and so is the group that still
holds it. Schemas cannot be tagged: they are ours by the run's name prefix, and a schema another
dataset still uses is left and reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import ClientError

from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.ensure import tags_of
from recsys_assets.workflow.naming import DEPLOYMENT_TAG, RUN_TAG, RunNames, schema_name_pattern
from recsys_assets.workflow.polling import IN_FLIGHT, PollSettings, wait_for_status, wait_until_deleted


@dataclass
class Scope:
    """What a teardown may delete: dataset groups (with their contents), schemas, and the ownership test."""

    groups: list[str]
    schemas: list[str]
    owns: Callable[[dict[str, str]], bool]


@dataclass
class TeardownReport:
    deleted: list[str] = field(default_factory=list)  # in order; with dry_run, what would be deleted
    kept: dict[str, str] = field(default_factory=dict)  # arn -> why it was left


def run_scope(client, names: RunNames) -> Scope:
    """Everything one run created: its tagged dataset groups and the schemas with its name prefix."""
    groups = [g["datasetGroupArn"] for g in rt.DATASET_GROUP.list(client)
              if names.owns(tags_of(client, g["datasetGroupArn"]))]
    schemas = [s["schemaArn"] for s in rt.SCHEMA.list(client) if s["name"].startswith(names.schema_prefix)]
    return Scope(groups, schemas, names.owns)


def sweep_scope(client, deployment: str, older_than_seconds: float, exclude_run_ids: set[str]) -> Scope:
    """Orphans: this deployment's resources older than the cut-off, except those of runs still going."""
    cutoff = time.time() - older_than_seconds
    excluded_keys = {RunNames(deployment, run_id).key for run_id in exclude_run_ids}

    def owns(tags: dict[str, str]) -> bool:
        return tags.get(DEPLOYMENT_TAG) == deployment and tags.get(RUN_TAG) not in exclude_run_ids

    groups = [g["datasetGroupArn"] for g in rt.DATASET_GROUP.list(client)
              if g["creationDateTime"].timestamp() < cutoff and owns(tags_of(client, g["datasetGroupArn"]))]
    pattern = schema_name_pattern(deployment)
    schemas = [s["schemaArn"] for s in rt.SCHEMA.list(client)
               if pattern.match(s["name"]) and s["creationDateTime"].timestamp() < cutoff
               and s["name"].rsplit("-", 1)[0] not in excluded_keys]
    return Scope(groups, schemas, owns)


def teardown(client, scope: Scope, poll: PollSettings, log: Callable[[str], None], *,
             dry_run: bool = False) -> TeardownReport:
    report = TeardownReport()

    def ours(rtype: rt.ResourceType, summaries: list[dict]) -> list[str]:
        arns = []
        for summary in summaries:
            arn = summary[rtype.arn_key]
            if scope.owns(tags_of(client, arn)):
                arns.append(arn)
            else:
                report.kept[arn] = "does not carry our ownership tags"
                log(f"leaving {arn}: not ours")
        return arns

    def settle(rtype: rt.ResourceType, arns: list[str]) -> None:
        """Wait until nothing in ``arns`` is still being created: the service refuses to delete then."""
        for arn in arns:
            try:
                wait_for_status(client, rtype, arn, poll, log, done=lambda status: status not in IN_FLIGHT,
                                failed=())
            except ClientError as e:
                if rt.error_code(e) != "ResourceNotFoundException":
                    raise

    def delete_all(rtype: rt.ResourceType, arns: list[str]) -> None:
        if dry_run:
            report.deleted.extend(arns)
            for arn in arns:
                log(f"would delete {arn}")
            return
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
            wait_until_deleted(client, rtype, arn, poll, log)
            report.deleted.append(arn)

    def blocked_by_foreign(group: str, kept_before: int) -> bool:
        foreign = list(report.kept)[kept_before:]
        if foreign:
            report.kept[group] = f"still holds resources that are not ours: {', '.join(foreign)}"
            log(f"leaving {group} and what it holds: {report.kept[group]}")
        return bool(foreign)

    for group in scope.groups:
        foreign_before = len(report.kept)
        solutions = ours(rt.SOLUTION, rt.SOLUTION.list(client, datasetGroupArn=group))
        versions = [v for s in solutions for v in rt.SOLUTION_VERSION.list(client, solutionArn=s)]
        delete_all(rt.CAMPAIGN, ours(rt.CAMPAIGN, [c for s in solutions for c in rt.CAMPAIGN.list(client, solutionArn=s)]))
        delete_all(rt.RECOMMENDER, ours(rt.RECOMMENDER, rt.RECOMMENDER.list(client, datasetGroupArn=group)))
        in_flight = [v["solutionVersionArn"] for v in versions if v["status"] in IN_FLIGHT]
        if not dry_run:
            for arn in in_flight:
                client.stop_solution_version_creation(solutionVersionArn=arn)
                log(f"stopping training {arn}")
            settle(rt.SOLUTION_VERSION, in_flight)
            # Batch and import jobs can't be stopped, and datasets can't go while they run.
            settle(rt.BATCH_INFERENCE_JOB, [j["batchInferenceJobArn"] for v in versions for j in
                                            rt.BATCH_INFERENCE_JOB.list(client, solutionVersionArn=v["solutionVersionArn"])])
        delete_all(rt.SOLUTION, solutions)
        delete_all(rt.EVENT_TRACKER, ours(rt.EVENT_TRACKER, rt.EVENT_TRACKER.list(client, datasetGroupArn=group)))
        delete_all(rt.METRIC_ATTRIBUTION,
                   ours(rt.METRIC_ATTRIBUTION, rt.METRIC_ATTRIBUTION.list(client, datasetGroupArn=group)))
        delete_all(rt.FILTER, ours(rt.FILTER, rt.FILTER.list(client, datasetGroupArn=group)))
        # The service won't delete datasets or a group while resources that are not ours remain in it.
        if blocked_by_foreign(group, foreign_before):
            continue
        datasets = ours(rt.DATASET, rt.DATASET.list(client, datasetGroupArn=group))
        if not dry_run:
            settle(rt.DATASET_IMPORT_JOB, [j["datasetImportJobArn"] for d in datasets
                                           for j in rt.DATASET_IMPORT_JOB.list(client, datasetArn=d)])
        delete_all(rt.DATASET, datasets)
        if blocked_by_foreign(group, foreign_before):
            continue
        delete_all(rt.DATASET_GROUP, [group])
    for schema in scope.schemas:
        if dry_run:
            report.deleted.append(schema)
            log(f"would delete {schema}")
            continue
        try:
            client.delete_schema(schemaArn=schema)
            report.deleted.append(schema)
            log(f"deleted {schema}")
        except ClientError as e:
            if rt.error_code(e) == "ResourceNotFoundException":
                continue
            if rt.error_code(e) != "ResourceInUseException":
                raise
            report.kept[schema] = f"still in use: {e}"
            log(f"leaving {schema}: still in use")
    return report

