"""Contract tests of the documented deletion order and of the statuses a resource goes through on its service
clock, driven through a real boto3 ``personalize`` client on the local Personalize engine (see ``contract.py``).
"""

from __future__ import annotations

import re
import time

import pytest

from .contract import (
    EVENT_FILTER,
    assert_gone,
    group_status,
    insert_version,
    make_dataset,
    make_group,
    make_schema,
    make_solution,
)

# ---- deletion order --------------------------------------------------------------------------------


def test_teardown_in_documented_order_removes_everything(personalize, engine_root):
    c = personalize
    group = make_group(c)
    schemas = {kind: make_schema(c, kind) for kind in ("interactions", "items", "users")}
    datasets = {kind: make_dataset(c, group, kind, schemas[kind]) for kind in schemas}
    flt = c.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER)["filterArn"]
    tracker = c.create_event_tracker(name="web", datasetGroupArn=group)["eventTrackerArn"]
    solution = make_solution(c, group)
    version = insert_version(engine_root, solution, group)
    campaign = c.create_campaign(name="live", solutionVersionArn=version)["campaignArn"]
    c.describe_campaign(campaignArn=campaign)

    def delete(method, describe, **arn):
        method(**arn)
        assert_gone(describe, **arn)

    with pytest.raises(c.exceptions.ResourceInUseException, match="still has resources"):
        c.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(c.exceptions.ResourceInUseException):  # the campaign deploys one of its versions
        c.delete_solution(solutionArn=solution)
    delete(c.delete_campaign, c.describe_campaign, campaignArn=campaign)
    delete(c.delete_solution, c.describe_solution, solutionArn=solution)
    with pytest.raises(c.exceptions.ResourceInUseException):  # the tracker feeds the Interactions dataset
        c.delete_dataset(datasetArn=datasets["interactions"])
    delete(c.delete_event_tracker, c.describe_event_tracker, eventTrackerArn=tracker)
    with pytest.raises(c.exceptions.ResourceInUseException):  # still the filter
        c.delete_dataset(datasetArn=datasets["users"])
    delete(c.delete_filter, c.describe_filter, filterArn=flt)
    for arn in datasets.values():
        delete(c.delete_dataset, c.describe_dataset, datasetArn=arn)
    delete(c.delete_dataset_group, c.describe_dataset_group, datasetGroupArn=group)
    for arn in schemas.values():
        delete(c.delete_schema, c.describe_schema, schemaArn=arn)
    assert c.list_dataset_groups()["datasetGroups"] == []
    assert c.list_schemas()["schemas"] == []
    assert c.list_solution_versions()["solutionVersions"] == []


def test_campaigns_and_training_block_deleting_datasets(personalize, engine_root):
    c = personalize
    group = make_group(c)
    dataset = make_dataset(c, group, "users")  # no filter, no tracker: only the campaign is in the way
    solution = make_solution(c, group)
    campaign = c.create_campaign(name="live", solutionVersionArn=insert_version(engine_root, solution, group))
    with pytest.raises(c.exceptions.ResourceInUseException, match=re.escape(campaign["campaignArn"])):
        c.delete_dataset(datasetArn=dataset)
    c.delete_campaign(campaignArn=campaign["campaignArn"])
    assert_gone(c.describe_campaign, campaignArn=campaign["campaignArn"])
    training = insert_version(engine_root, solution, group, "CREATE IN_PROGRESS", "00000002")
    for delete in (lambda: c.delete_dataset(datasetArn=dataset), lambda: c.delete_solution(solutionArn=solution)):
        with pytest.raises(c.exceptions.ResourceInUseException, match=re.escape(training)):
            delete()


# ---- lifecycle -------------------------------------------------------------------------------


def test_lifecycle_statuses_follow_the_clock(make_personalize, fake_clock):
    # The service's clock is faked, so each status is checked at a known point of its 0.6 s transition.
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    assert group_status(c, group) == "CREATE PENDING"
    fake_clock.advance(0.2)
    assert group_status(c, group) == "CREATE PENDING"
    fake_clock.advance(0.15)  # past half way
    assert group_status(c, group) == "CREATE IN_PROGRESS"
    fake_clock.advance(0.3)
    assert group_status(c, group) == "ACTIVE"

    dataset = c.create_dataset(name="people", datasetGroupArn=group, schemaArn=make_schema(c, "users"),
                               datasetType="USERS")["datasetArn"]
    fake_clock.advance(0.7)
    c.delete_dataset(datasetArn=dataset)

    def dataset_status():
        return c.describe_dataset(datasetArn=dataset)["dataset"]["status"]

    assert dataset_status() == "DELETE PENDING"
    fake_clock.advance(0.35)
    assert dataset_status() == "DELETE IN_PROGRESS"
    fake_clock.advance(0.3)
    assert_gone(c.describe_dataset, datasetArn=dataset)

    c.delete_dataset_group(datasetGroupArn=group)
    assert group_status(c, group) == "DELETE PENDING"
    fake_clock.advance(0.35)  # dataset groups have no DELETE IN_PROGRESS
    assert group_status(c, group) == "DELETE PENDING"
    fake_clock.advance(0.3)
    assert_gone(c.describe_dataset_group, datasetGroupArn=group)


def _observe(read, final, deadline_seconds=30.0) -> list[str]:
    """Poll ``read()`` until it returns ``final``; the distinct statuses seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + deadline_seconds
    while True:
        status = read()
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == final:
            return seen
        assert time.monotonic() < deadline, f"still {status} after {deadline_seconds}s; saw {seen}"
        time.sleep(0.05)


def test_lifecycle_in_real_time(make_personalize):
    # The same transitions on the real clock: only their order and outcome are asserted, never timing.
    c = make_personalize(transition_seconds=0.6)
    group = c.create_dataset_group(name="shop")["datasetGroupArn"]
    seen = _observe(lambda: group_status(c, group), "ACTIVE")
    order = ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]
    assert seen == sorted(seen, key=order.index) and set(seen) <= set(order)

    c.delete_dataset_group(datasetGroupArn=group)

    def status_or_gone():
        try:
            return group_status(c, group)
        except c.exceptions.ResourceNotFoundException:
            return "gone"

    seen = _observe(status_or_gone, "gone")
    order = ["DELETE PENDING", "DELETE IN_PROGRESS", "gone"]
    assert seen == sorted(seen, key=order.index) and set(seen) <= set(order)
