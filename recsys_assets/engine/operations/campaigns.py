"""Campaigns and event trackers."""

from __future__ import annotations

import secrets
import uuid

from recsys_assets.engine.catalog import Resource, Txn
from recsys_assets.engine.core import ACCOUNT_ID, ServiceCore
from recsys_assets.engine.errors import already_exists, check_quota, in_use, invalid
from recsys_assets.engine.statuses import DELETING
from recsys_assets.personalize_rules.limits import MAX_CAMPAIGNS_PER_GROUP


def _deployable(svc: ServiceCore, txn: Txn, arn: str, config: dict | None) -> Resource:
    """The solution version a campaign deploys: an ACTIVE one, or a solution's newest as <solution>/$LATEST."""
    latest = arn.endswith("/$LATEST")
    if (config or {}).get("syncWithLatestSolutionVersion") and not latest:
        raise invalid("syncWithLatestSolutionVersion needs solutionVersionArn in SolutionArn/$LATEST format.")
    if not latest:
        version = svc.get(txn, arn, "solution-version")
        svc.require_active(version, "Solution version")
        return version
    solution = svc.get(txn, arn.removesuffix("/$LATEST"), "solution")
    active = txn.find("solution-version", solution.arn, statuses=("ACTIVE",))
    if not active:
        raise in_use(f"Solution {solution.arn} has no ACTIVE solution version to deploy.")
    return active[0]


def deployed_version(svc: ServiceCore, txn: Txn, campaign: Resource) -> Resource:
    """The solution version an ACTIVE campaign serves now (an update in progress serves the old one;
    <solution>/$LATEST serves the solution's newest ACTIVE version)."""
    return _deployable(svc, txn, campaign.body["solutionVersionArn"], None)


def create_campaign(svc: ServiceCore, p: dict) -> dict:
    name = p["name"]
    with svc.transaction() as txn:
        version = _deployable(svc, txn, p["solutionVersionArn"], p.get("campaignConfig"))
        group = version.body["datasetGroupArn"]
        check_quota(sum(txn.count("campaign", s.arn, excluding=DELETING) for s in txn.find("solution", group)),
                    MAX_CAMPAIGNS_PER_GROUP, "Cannot create a campaign. More than 5 resources in ACTIVE state. "
                                             "Please delete some and try again.")
        body = {"solutionVersionArn": p["solutionVersionArn"], "minProvisionedTPS": p.get("minProvisionedTPS", 1),
                "campaignConfig": p.get("campaignConfig")}
        res = svc.new(txn, "campaign", svc.arn(f"campaign/{name}"), name, version.parent, body, p.get("tags"))
    return {"campaignArn": res.arn}


def update_campaign(svc: ServiceCore, p: dict) -> dict:
    with svc.transaction() as txn:
        campaign = svc.get(txn, p["campaignArn"], "campaign")
        if campaign.status not in ("ACTIVE", "CREATE FAILED"):
            raise in_use(f"Campaign {campaign.arn} can be updated only when ACTIVE or CREATE FAILED "
                         f"(status: {campaign.status}).")
        svc.require_no_update(campaign)
        changes = {k: p[k] for k in ("solutionVersionArn", "minProvisionedTPS", "campaignConfig") if k in p}
        config = changes.get("campaignConfig", campaign.body.get("campaignConfig"))
        version = _deployable(svc, txn, changes.get("solutionVersionArn", campaign.body["solutionVersionArn"]),
                                   config)
        if version.parent != campaign.parent:
            raise invalid(f"Campaign {campaign.arn} deploys solution {campaign.parent}; "
                          f"{version.arn} belongs to another solution.")
        summary = {k: changes.get(k, campaign.body.get(k)) for k in ("solutionVersionArn", "minProvisionedTPS",
                                                                    "campaignConfig")}
        svc.start_update(txn, campaign, summary, changes)
    return {"campaignArn": campaign.arn}


def create_event_tracker(svc: ServiceCore, p: dict) -> dict:
    name = p["name"]
    with svc.transaction() as txn:
        group = svc.get(txn, p["datasetGroupArn"], "dataset-group")
        svc.require_active(group, "Dataset group")
        if txn.find("event-tracker", group.arn):
            raise already_exists(f"Dataset group {group.arn} already has an event tracker; "
                                 "only one can be associated with a dataset group.")
        tracking_id = str(uuid.uuid4())
        body = {"datasetGroupArn": group.arn, "trackingId": tracking_id, "accountId": ACCOUNT_ID}
        res = svc.new(txn, "event-tracker", svc.arn(f"event-tracker/{secrets.token_hex(4)}"), name, group.arn,
                        body, p.get("tags"))
    return {"eventTrackerArn": res.arn, "trackingId": tracking_id}


OPERATIONS = {
    "CreateCampaign": create_campaign,
    "UpdateCampaign": update_campaign,
    "CreateEventTracker": create_event_tracker,
}
