"""Ordered, idempotent teardown of what we own on Personalize, and nothing else.

Order is the service's [personalize-api.md §1.5]: campaigns and recommenders -> in-flight solution
versions stopped -> solutions -> event trackers -> filters -> datasets (after
in-flight imports and batch jobs settle) -> dataset group -> schemas. Each stage waits until describe
raises ResourceNotFoundException before the next begins.

Ownership is checked on every resource, not just the dataset group: anything without our tags (a
filter a colleague added to our group, say) is left and reported, and so is the group that still
holds it. Schemas cannot be tagged: they are ours by the run's name prefix, and a schema another
dataset still uses is left and reported.

A resource that can't be deleted does not stop the rest: its error is recorded, what the order needs
gone before it is not attempted (recorded as blocked), and everything else still goes. The caller
decides what the ones left (``TeardownReport.failed``) mean for its run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from recsys_assets.storage import ObjectStore
from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.ensure import tags_of
from recsys_assets.workflow.naming import DEPLOYMENT_TAG, RUN_TAG, RunNames, schema_name_pattern
from recsys_assets.workflow.polling import (
    IN_FLIGHT,
    PollSettings,
    WaitTimeout,
    sleeps,
    wait_for_status,
    wait_until_deleted,
)

IN_USE, NOT_FOUND = "ResourceInUseException", "ResourceNotFoundException"
# StopSolutionVersionCreation takes only these; a version in any other state answers ResourceInUse
# [botocore StopSolutionVersionCreation; personalize-api.md §1.2].
STOPPABLE = ("CREATE PENDING", "CREATE IN_PROGRESS")
# What one resource's stop, delete or wait can end in; the teardown records it and goes on.
_ERRORS = (ClientError, BotoCoreError, WaitTimeout)


@dataclass
class Scope:
    """What a teardown may delete: dataset groups (with their contents), schemas, and the ownership test."""

    groups: list[str]
    schemas: list[str]
    owns: Callable[[dict[str, str]], bool]


@dataclass
class TeardownReport:
    deleted: list[str] = field(default_factory=list)  # in order; with dry_run, what would be deleted
    kept: dict[str, str] = field(default_factory=dict)  # arn -> why it was left on purpose
    failed: dict[str, str] = field(default_factory=dict)  # arn -> why it is left although ours: error or blocker

    def failed_by_type(self) -> dict[str, list[str]]:
        """The ARNs left by failure, by resource type (``dataset-group``, ``filter``, ...)."""
        by_type: dict[str, list[str]] = {}
        for arn in self.failed:
            by_type.setdefault(resource_kind(arn), []).append(arn)
        return by_type


def resource_kind(arn: str) -> str:
    """``arn:aws:personalize:<region>:<account>:dataset-group/name`` -> ``dataset-group``."""
    return arn.split(":", 5)[-1].split("/", 1)[0]


def stop_training(client, arn: str, log: Callable[[str], None]) -> None:
    """Stop training ``arn``. A version that meanwhile started stopping, finished, failed or was deleted
    answers ResourceInUse or ResourceNotFound: it bills no further training either way, so that is not an error."""
    try:
        client.stop_solution_version_creation(solutionVersionArn=arn)
        log(f"stopping training {arn}")
    except ClientError as e:
        if rt.error_code(e) not in (IN_USE, NOT_FOUND):
            raise
        log(f"{arn} no longer training, nothing to stop ({rt.error_code(e)})")


def run_scope(client, names: RunNames) -> Scope:
    """Everything one run created: its tagged dataset groups and the schemas with its name prefix."""
    groups = [g["datasetGroupArn"] for g in rt.DATASET_GROUP.list(client)
              if names.owns(tags_of(client, g["datasetGroupArn"]))]
    schemas = [s["schemaArn"] for s in rt.SCHEMA.list(client) if s["name"].startswith(names.schema_prefix)]
    return Scope(groups, schemas, names.owns)


def sweep_scope(client, deployment: str, older_than_seconds: float, exclude_run_ids: set[str],
                finished_run_ids: set[str] | frozenset[str] = frozenset()) -> Scope:
    """Orphans: this deployment's resources older than the cut-off, and at any age those of
    ``finished_run_ids``, except those of ``exclude_run_ids``. Both are root run ids (the run tag's value):
    runs known to have ended, and runs still going (or about to be retried)."""
    cutoff = time.time() - older_than_seconds
    excluded_keys = {RunNames(deployment, run_id).key for run_id in exclude_run_ids}
    finished_keys = {RunNames(deployment, run_id).key for run_id in finished_run_ids}

    def owns(tags: dict[str, str]) -> bool:
        return tags.get(DEPLOYMENT_TAG) == deployment and tags.get(RUN_TAG) not in exclude_run_ids

    groups = []
    for g in rt.DATASET_GROUP.list(client):
        tags = tags_of(client, g["datasetGroupArn"])
        if owns(tags) and (g["creationDateTime"].timestamp() < cutoff or tags.get(RUN_TAG) in finished_run_ids):
            groups.append(g["datasetGroupArn"])
    pattern = schema_name_pattern(deployment)

    def schema_taken(schema: dict) -> bool:
        # Untaggable schemas belong to a run by the key in their name (naming.RunNames.schema).
        key = schema["name"].rsplit("-", 1)[0]
        return (bool(pattern.match(schema["name"])) and key not in excluded_keys
                and (schema["creationDateTime"].timestamp() < cutoff or key in finished_keys))

    schemas = [s["schemaArn"] for s in rt.SCHEMA.list(client) if schema_taken(s)]
    return Scope(groups, schemas, owns)


def teardown(client, scope: Scope, poll: PollSettings, log: Callable[[str], None], *,
             dry_run: bool = False) -> TeardownReport:
    report = TeardownReport()

    def fail(arn: str, error: Exception) -> None:
        report.failed[arn] = str(error)
        log(f"could not delete {arn}: {error}")

    def block(arns: list[str], blockers: list[str]) -> list[str]:
        for arn in arns:
            report.failed[arn] = f"not attempted: {', '.join(blockers)} must be gone (or settled) first"
            log(f"leaving {arn} for now: {report.failed[arn]}")
        return arns

    def ours(rtype: rt.ResourceType, summaries: list[dict]) -> list[str]:
        arns = []
        for summary in summaries:
            arn = summary[rtype.arn_key]
            if not rtype.taggable:  # the pipeline never creates one: whoever did, it is not ours
                report.kept[arn] = f"a {rtype.noun.replace('_', ' ')} can't carry tags; we never create one"
                log(f"leaving {arn}: not ours")
                continue
            try:
                tags = tags_of(client, arn)
            except ClientError as e:
                if rt.error_code(e) == NOT_FOUND:  # deleted since listed (a concurrent cleanup)
                    continue
                raise
            if scope.owns(tags):
                arns.append(arn)
            else:
                report.kept[arn] = "does not carry our ownership tags"
                log(f"leaving {arn}: not ours")
        return arns

    def settle(rtype: rt.ResourceType, arn: str) -> None:
        """Wait until ``arn`` is no longer being created: the service refuses to delete it until then."""
        try:
            wait_for_status(client, rtype, arn, poll, log, done=lambda status: status not in IN_FLIGHT, failed=())
        except ClientError as e:
            if rt.error_code(e) != NOT_FOUND:
                raise

    def settle_all(rtype: rt.ResourceType, arns: list[str]) -> list[str]:
        """The ARNs still busy (or unreadable) past their timeout."""
        stuck = []
        for arn in arns:
            try:
                settle(rtype, arn)
            except _ERRORS as e:
                fail(arn, e)
                stuck.append(arn)
        return stuck

    def delete(rtype: rt.ResourceType, arn: str) -> None:
        """Request the deletion. ResourceInUse means something is still settling (a status changing, a
        child's deletion in flight) [personalize-api.md §1.5]: settle and ask again until the type's timeout."""
        start = time.monotonic()
        for pause in sleeps(poll):
            settle(rtype, arn)
            try:
                rtype.delete(client, arn)  # logged once gone (wait_until_deleted): one line per resource
                return
            except ClientError as e:
                code = rt.error_code(e)
                if code == NOT_FOUND:
                    return
                # Already DELETE PENDING from an earlier or concurrent teardown: just wait for it.
                if code == IN_USE and "being deleted" in str(e):
                    return
                if code != IN_USE or time.monotonic() - start > poll.timeout(rtype):
                    raise
                log(f"{arn} is still in use, retrying: {e}")
            time.sleep(pause)

    def delete_all(rtype: rt.ResourceType, arns: list[str]) -> list[str]:
        """Delete ``arns`` and wait until they are gone; returns those left (failed)."""
        if dry_run:
            report.deleted.extend(arns)
            for arn in arns:
                log(f"would delete {arn}")
            return []
        left = []
        for arn in arns:
            try:
                delete(rtype, arn)
            except _ERRORS as e:
                fail(arn, e)
                left.append(arn)
        for arn in arns:
            if arn in left:
                continue
            try:
                wait_until_deleted(client, rtype, arn, poll, log)
                report.deleted.append(arn)
            except _ERRORS as e:
                fail(arn, e)
                left.append(arn)
        return left

    def stop_all(versions: list[dict]) -> list[str]:
        """Stop and settle the versions still training; returns those left training."""
        left = []
        for version in versions:
            if version["status"] in STOPPABLE:
                try:
                    stop_training(client, version["solutionVersionArn"], log)
                except _ERRORS as e:
                    fail(version["solutionVersionArn"], e)
                    left.append(version["solutionVersionArn"])
        training = [v["solutionVersionArn"] for v in versions if v["status"] in IN_FLIGHT]
        return left + settle_all(rt.SOLUTION_VERSION, [arn for arn in training if arn not in left])

    def blocked_by_foreign(group: str, kept_before: int) -> bool:
        foreign = list(report.kept)[kept_before:]
        if foreign:
            report.kept[group] = f"still holds resources that are not ours: {', '.join(foreign)}"
            log(f"leaving {group} and what it holds: {report.kept[group]}")
        return bool(foreign)

    def tear_down_group(group: str) -> None:
        foreign_before = len(report.kept)
        solutions = ours(rt.SOLUTION, rt.SOLUTION.list(client, datasetGroupArn=group))
        versions = [v for s in solutions for v in rt.SOLUTION_VERSION.list(client, solutionArn=s)]
        left = delete_all(rt.CAMPAIGN, ours(rt.CAMPAIGN, [c for s in solutions
                                                         for c in rt.CAMPAIGN.list(client, solutionArn=s)]))
        left += delete_all(rt.RECOMMENDER, ours(rt.RECOMMENDER, rt.RECOMMENDER.list(client, datasetGroupArn=group)))
        busy_jobs = []
        if not dry_run:
            left += stop_all(versions)
            # Batch and import jobs can't be stopped, and filters and datasets can't go while they run.
            busy_jobs = settle_all(rt.BATCH_INFERENCE_JOB, [
                j["batchInferenceJobArn"] for v in versions
                for j in rt.BATCH_INFERENCE_JOB.list(client, solutionVersionArn=v["solutionVersionArn"])])
        # A solution can't go while a campaign of it remains or a version trains.
        left += block(solutions, left) if left else delete_all(rt.SOLUTION, solutions)
        left += delete_all(rt.EVENT_TRACKER,
                           ours(rt.EVENT_TRACKER, rt.EVENT_TRACKER.list(client, datasetGroupArn=group)))
        # Never ours (untaggable, and the pipeline creates none): listed only so the group is left if one is there.
        ours(rt.METRIC_ATTRIBUTION, rt.METRIC_ATTRIBUTION.list(client, datasetGroupArn=group))
        filters = ours(rt.FILTER, rt.FILTER.list(client, datasetGroupArn=group))
        left += block(filters, busy_jobs) if busy_jobs else delete_all(rt.FILTER, filters)
        left += busy_jobs
        # The service won't delete datasets or a group while resources that are not ours remain in it.
        if blocked_by_foreign(group, foreign_before):
            return
        datasets = ours(rt.DATASET, rt.DATASET.list(client, datasetGroupArn=group))
        if not dry_run:
            left += settle_all(rt.DATASET_IMPORT_JOB, [j["datasetImportJobArn"] for d in datasets
                                                       for j in rt.DATASET_IMPORT_JOB.list(client, datasetArn=d)])
        # Datasets need everything above gone; the group needs everything in it gone.
        if left:
            block([*datasets, group], left)
            return
        left = delete_all(rt.DATASET, datasets)
        if blocked_by_foreign(group, foreign_before):
            return
        if left:
            block([group], left)
            return
        delete_all(rt.DATASET_GROUP, [group])

    for group in scope.groups:
        try:
            tear_down_group(group)
        except _ERRORS as e:  # listing what it holds failed: nothing more of this group can go in order
            fail(group, e)
    datasets_left = [arn for arn in report.failed if resource_kind(arn) == "dataset"]
    for schema in scope.schemas:
        if dry_run:
            report.deleted.append(schema)
            log(f"would delete {schema}")
            continue
        try:
            client.delete_schema(schemaArn=schema)
            report.deleted.append(schema)
            log(f"deleted {schema} (schema)")
        except _ERRORS as e:
            code = rt.error_code(e) if isinstance(e, ClientError) else ""
            if code == NOT_FOUND:
                continue
            if code == IN_USE and not datasets_left:
                report.kept[schema] = f"still in use: {e}"
                log(f"leaving {schema}: still in use")
            else:  # in use by a dataset of ours that could not be deleted, or another error
                fail(schema, e)
    return report


def delete_run_files(store: ObjectStore, folders: list[str], log: Callable[[str], None], *,
                     dry_run: bool = False) -> tuple[dict[str, int], dict[str, str]]:
    """Folder -> files deleted there (with dry_run: that would be), and folder -> why it could not be emptied."""
    files, failed = {}, {}
    for folder in folders:
        try:
            found = store.list(folder) if dry_run else store.delete_prefix(folder)
        except (OSError, ClientError, BotoCoreError) as e:
            failed[folder] = str(e)
            log(f"could not delete the files under {folder}: {e}")
            continue
        if found:
            files[folder] = len(found)
            log(f"{'would delete' if dry_run else 'deleted'} {len(found)} files under {folder}")
    return files, failed
