"""Deletion order: what blocks a delete, and what goes with a deleted parent [DG:deleting-resources].

The service refuses to delete a resource while others depend on it (a group with datasets, a dataset with
a running import, a solution with a campaign) and removes a parent's records with it (a dataset's import
jobs, a solution's versions and their batch jobs).
"""

from __future__ import annotations

from recsys_assets.engine.catalog import Resource, Txn
from recsys_assets.engine.data import DataStore
from recsys_assets.engine.statuses import CREATING


def delete_blocker(txn: Txn, res: Resource) -> str | None:
    """Why the service refuses to delete this resource now, or None."""
    live = txn.find
    if res.kind == "dataset-group":
        children = [r.arn for k in ("dataset", "solution", "event-tracker", "filter") for r in live(k, res.arn)]
        if children:
            return f"Dataset group {res.arn} still has resources; delete them first: {', '.join(children)}"
    elif res.kind == "schema":
        users = [d.arn for d in live("dataset") if res.arn in (
            d.body.get("schemaArn"), d.internal.get("update", {}).get("schemaArn"))]
        if users:
            return f"Schema {res.arn} is in use by dataset(s): {', '.join(users)}"
    elif res.kind == "dataset":
        group = res.parent
        blockers = [f.arn for f in live("filter", group)]
        if res.body["datasetType"] == "INTERACTIONS":
            blockers += [t.arn for t in live("event-tracker", group)]
        blockers += [j.arn for j in live("dataset-import-job", res.arn, statuses=CREATING)]
        for solution in live("solution", group):
            for version in live("solution-version", solution.arn):
                if version.status in CREATING:
                    blockers.append(version.arn)
                blockers += [j.arn for j in live("batch-inference-job", version.arn, statuses=CREATING)]
            blockers += [c.arn for c in live("campaign", solution.arn, statuses=(*CREATING, "ACTIVE"))]
        if blockers:
            return f"Dataset {res.arn} can't be deleted while these exist or are in progress: {', '.join(blockers)}"
    elif res.kind == "solution":
        blockers = [c.arn for c in live("campaign", res.arn)]
        blockers += [v.arn for v in live("solution-version", res.arn, statuses=(*CREATING, "CREATE STOPPING"))]
        if blockers:
            return f"Solution {res.arn} can't be deleted while these exist or are in progress: {', '.join(blockers)}"
    elif res.kind == "filter":
        jobs = [j.arn for j in live("batch-inference-job", statuses=CREATING) if j.body.get("filterArn") == res.arn]
        if jobs:
            return f"Filter {res.arn} is in use by batch inference job(s) in progress: {', '.join(jobs)}"
    return None


def remove_with_parent(txn: Txn, data: DataStore, res: Resource) -> None:
    """Children the service removes along with a deleted parent, and their stored data."""
    if res.kind == "dataset":
        for job in txn.find("dataset-import-job", res.arn):
            txn.remove(job.arn)
        data.discard(res.arn)
    elif res.kind == "solution":
        for version in txn.find("solution-version", res.arn):
            for job in txn.find("batch-inference-job", version.arn):
                txn.remove(job.arn)
            txn.remove(version.arn)
            data.discard(version.arn)
