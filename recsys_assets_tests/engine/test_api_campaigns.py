"""Contract tests of campaigns and event trackers, driven through a real boto3 ``personalize`` client on the
local Personalize engine (see ``contract.py``).
"""

from __future__ import annotations

import re

import pytest

from .contract import (
    REGION_PREFIX,
    UP_V2,
    assert_gone,
    error_message,
    insert_version,
    make_group,
    make_solution,
)

# ---- campaigns -------------------------------------------------------------------------------------


def test_campaign_lifecycle_and_update(make_personalize, engine_root, fake_clock):
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    fake_clock.advance(1)
    solution = c.create_solution(name="recs", datasetGroupArn=group, recipeArn=UP_V2)["solutionArn"]
    fake_clock.advance(1)
    v1 = insert_version(engine_root, solution, group, suffix="00000001")
    v2 = insert_version(engine_root, solution, group, suffix="00000002")
    arn = c.create_campaign(name="live", solutionVersionArn=v1)["campaignArn"]
    assert arn == REGION_PREFIX + "campaign/live"

    def describe():
        return c.describe_campaign(campaignArn=arn)["campaign"]

    assert describe()["status"] == "CREATE PENDING"
    with pytest.raises(c.exceptions.ResourceInUseException):  # updates need ACTIVE or CREATE FAILED
        c.update_campaign(campaignArn=arn, minProvisionedTPS=2)
    fake_clock.advance(0.7)
    campaign = describe()
    assert (campaign["status"], campaign["solutionVersionArn"], campaign["minProvisionedTPS"]) == ("ACTIVE", v1, 1)
    assert "latestCampaignUpdate" not in campaign  # only after an UpdateCampaign [BC Campaign]

    assert c.update_campaign(campaignArn=arn, solutionVersionArn=v2, minProvisionedTPS=2)["campaignArn"] == arn
    campaign = describe()  # the old version keeps serving until the update is ACTIVE
    assert (campaign["solutionVersionArn"], campaign["minProvisionedTPS"]) == (v1, 1)
    update = campaign["latestCampaignUpdate"]
    assert (update["solutionVersionArn"], update["minProvisionedTPS"], update["status"]) == (v2, 2, "CREATE PENDING")
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.update_campaign(campaignArn=arn, minProvisionedTPS=3)
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.delete_campaign(campaignArn=arn)
    fake_clock.advance(0.35)
    assert describe()["latestCampaignUpdate"]["status"] == "CREATE IN_PROGRESS"
    fake_clock.advance(0.3)
    campaign = describe()
    assert (campaign["solutionVersionArn"], campaign["minProvisionedTPS"]) == (v2, 2)
    assert campaign["latestCampaignUpdate"]["status"] == "ACTIVE"

    c.delete_campaign(campaignArn=arn)
    assert describe()["status"] == "DELETE PENDING"
    fake_clock.advance(0.35)
    assert describe()["status"] == "DELETE IN_PROGRESS"
    fake_clock.advance(0.3)
    assert_gone(c.describe_campaign, campaignArn=arn)


def test_campaign_preconditions(personalize, engine_root):
    c = personalize
    group = make_group(c)
    solution = make_solution(c, group)
    other = make_solution(c, group, "other")
    training = insert_version(engine_root, solution, group, "CREATE IN_PROGRESS", "00000001")
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.create_campaign(name="live", solutionVersionArn=training)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_campaign(name="live", solutionVersionArn=solution + "/ffffffff")
    # <solution>/$LATEST deploys the newest ACTIVE version; syncWithLatestSolutionVersion requires it.
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.create_campaign(name="live", solutionVersionArn=solution + "/$LATEST")
    active = insert_version(engine_root, solution, group, "ACTIVE", "00000002")
    with pytest.raises(c.exceptions.InvalidInputException, match="SolutionArn/\\$LATEST"):
        c.create_campaign(name="live", solutionVersionArn=active,
                          campaignConfig={"syncWithLatestSolutionVersion": True})
    arn = c.create_campaign(name="live", solutionVersionArn=solution + "/$LATEST", minProvisionedTPS=3,
                            campaignConfig={"syncWithLatestSolutionVersion": True})["campaignArn"]
    campaign = c.describe_campaign(campaignArn=arn)["campaign"]
    assert (campaign["solutionVersionArn"], campaign["minProvisionedTPS"], campaign["campaignConfig"]) == (
        solution + "/$LATEST", 3, {"syncWithLatestSolutionVersion": True})
    assert [s["campaignArn"] for s in c.list_campaigns(solutionArn=solution)["campaigns"]] == [arn]
    assert c.list_campaigns(solutionArn=other)["campaigns"] == []
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        c.create_campaign(name="live", solutionVersionArn=active)
    elsewhere = insert_version(engine_root, other, group, "ACTIVE", "00000003")
    with pytest.raises(c.exceptions.InvalidInputException, match="belongs to another solution"):
        c.update_campaign(campaignArn=arn, solutionVersionArn=elsewhere,
                          campaignConfig={"syncWithLatestSolutionVersion": False})
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.update_campaign(campaignArn=REGION_PREFIX + "campaign/nope", minProvisionedTPS=2)


def test_campaign_quota_of_five_per_group(personalize, engine_root):
    group = make_group(personalize)
    version = insert_version(engine_root, make_solution(personalize, group), group)
    for i in range(5):
        personalize.create_campaign(name=f"live{i}", solutionVersionArn=version)
    with pytest.raises(personalize.exceptions.LimitExceededException) as e:
        personalize.create_campaign(name="live5", solutionVersionArn=version)
    assert error_message(e) == ("Cannot create a campaign. More than 5 resources in ACTIVE state. "
                                "Please delete some and try again.")


# ---- event trackers --------------------------------------------------------------------------------


def test_event_tracker_create_describe_list_delete(make_personalize):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)
    group = make_group(c)
    created = c.create_event_tracker(name="web", datasetGroupArn=group,
                                     tags=[{"tagKey": "team", "tagValue": "recsys"}])
    arn, tracking_id = created["eventTrackerArn"], created["trackingId"]
    # Named by an id, not the name; trackingId is a UUID [§1.1].
    assert re.fullmatch(re.escape(REGION_PREFIX) + r"event-tracker/[0-9a-f]{8}", arn)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", tracking_id)
    tracker = c.describe_event_tracker(eventTrackerArn=arn)["eventTracker"]
    assert (tracker["name"], tracker["status"], tracker["trackingId"], tracker["accountId"],
            tracker["datasetGroupArn"]) == ("web", "ACTIVE", tracking_id, "000000000000", group)
    assert [t["eventTrackerArn"] for t in c.list_event_trackers(datasetGroupArn=group)["eventTrackers"]] == [arn]
    # One tracker per dataset group; names unique per type.
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        c.create_event_tracker(name="app", datasetGroupArn=group)
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        c.create_event_tracker(name="web", datasetGroupArn=make_group(c, "other"))
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_event_tracker(name="app", datasetGroupArn=REGION_PREFIX + "dataset-group/nope")
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.create_event_tracker(name="app", datasetGroupArn=slow.create_dataset_group(name="pending")["datasetGroupArn"])
    c.delete_event_tracker(eventTrackerArn=arn)
    assert_gone(c.describe_event_tracker, eventTrackerArn=arn)
    c.create_event_tracker(name="app", datasetGroupArn=group)  # the group's slot is free again
