"""AWS's getting-started sequence for custom resources, written from the documented API and run against the
local engine with real boto3 clients (``personalize``, ``personalize-runtime``, ``personalize-events``):

dataset group -> schema -> Item interactions dataset -> bulk import -> solution -> solution version ->
campaign -> GetRecommendations -> event tracker -> PutEvents (filters see the events at once) -> retrain
(the model learns them) -> clean up in the documented order (campaign, solution, event tracker, filter,
dataset, schema, dataset group) [DG:getting-started-python, DG:recording-events, DG:deleting-resources].
"""

from __future__ import annotations

import json
import time

import pytest

from recsys_assets.engine.transport import local_events_client, local_runtime_client

from .contract import ROLE_ARN, assert_gone, wait_for

USER_PERSONALIZATION = "arn:aws:personalize:::recipe/aws-user-personalization"
SCHEMA = {"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
          "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                     {"name": "EVENT_TYPE", "type": "string"}, {"name": "TIMESTAMP", "type": "long"}],
          "version": "1.0"}
# Four taste groups of 15 items; 48 users, each watching 25 items of their group.
GROUPS, PER_GROUP = 4, 15


def history_csv() -> str:
    lines = ["USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP"]
    for user in range(48):
        taste = user % GROUPS
        for n in range(25):
            item = taste * PER_GROUP + (user + 4 * n) % PER_GROUP
            lines.append(f"user{user},movie{item},watch,{1_700_000_000 + 3600 * n + user}")
    return "\n".join(lines) + "\n"


def ids(answer) -> list[str]:
    return [entry["itemId"] for entry in answer["itemList"]]


def wait_active(describe, key: str, **arn) -> dict:
    deadline = time.monotonic() + 60
    while (resource := describe(**arn)[key])["status"] != "ACTIVE":
        assert resource["status"] != "CREATE FAILED", resource.get("failureReason")
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return resource


def test_getting_started(personalize, engine_root, object_store):
    runtime = local_runtime_client(engine_root, object_store.config())
    events = local_events_client(engine_root, object_store.config())

    # 1. Data: a dataset group, the Item interactions schema and dataset, and a bulk import from S3.
    group = personalize.create_dataset_group(name="movies")["datasetGroupArn"]
    wait_active(personalize.describe_dataset_group, "datasetGroup", datasetGroupArn=group)
    schema = personalize.create_schema(name="movies-interactions", schema=json.dumps(SCHEMA))["schemaArn"]
    dataset = personalize.create_dataset(name="movies-interactions", schemaArn=schema, datasetGroupArn=group,
                                         datasetType="Interactions")["datasetArn"]
    wait_active(personalize.describe_dataset, "dataset", datasetArn=dataset)
    object_store.write_bytes("s3://movies-bucket/interactions.csv", history_csv().encode())
    job = personalize.create_dataset_import_job(
        jobName="history", datasetArn=dataset, roleArn=ROLE_ARN,
        dataSource={"dataLocation": "s3://movies-bucket/interactions.csv"})["datasetImportJobArn"]
    assert wait_for(personalize.describe_dataset_import_job, "datasetImportJob",
                    datasetImportJobArn=job)["status"] == "ACTIVE"

    # 2. Training: a solution and its first version.
    solution = personalize.create_solution(name="movies", datasetGroupArn=group,
                                           recipeArn=USER_PERSONALIZATION)["solutionArn"]
    wait_active(personalize.describe_solution, "solution", solutionArn=solution)
    first = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    version = wait_for(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=first)
    assert version["status"] == "ACTIVE", version.get("failureReason")

    # 3. A campaign and real-time recommendations.
    campaign = personalize.create_campaign(name="movies", solutionVersionArn=first,
                                           minProvisionedTPS=1)["campaignArn"]
    wait_active(personalize.describe_campaign, "campaign", campaignArn=campaign)
    recommended = ids(runtime.get_recommendations(campaignArn=campaign, userId="user1", numResults=5))
    assert len(recommended) == 5
    assert sum(int(item[5:]) // PER_GROUP == 1 for item in recommended) >= 4  # user1's taste
    stranger = ids(runtime.get_recommendations(campaignArn=campaign, userId="newcomer", numResults=10))

    # 4. Events: an event tracker, then the newcomer watches movies of the last group.
    tracker = personalize.create_event_tracker(name="movies", datasetGroupArn=group)
    wait_active(personalize.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    watched = [f"movie{(GROUPS - 1) * PER_GROUP + n}" for n in range(10)]
    events.put_events(trackingId=tracker["trackingId"], userId="newcomer", sessionId="session-1", eventList=[
        {"eventType": "watch", "itemId": item, "sentAt": time.time()} for item in watched])
    unwatched = personalize.create_filter(name="unwatched", datasetGroupArn=group,
                                          filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")'
                                          )["filterArn"]
    wait_active(personalize.describe_filter, "filter", filterArn=unwatched)
    # The filter sees the new events at once; the model has not been retrained, so it still sees a stranger.
    assert ids(runtime.get_recommendations(campaignArn=campaign, userId="newcomer", numResults=10)) == stranger
    filtered = ids(runtime.get_recommendations(campaignArn=campaign, userId="newcomer", numResults=10,
                                               filterArn=unwatched))
    assert len(filtered) == 10 and not set(filtered) & set(watched)

    # 5. Retrain on the data with the events, and deploy the new version to the campaign.
    second = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert wait_for(personalize.describe_solution_version, "solutionVersion",
                    solutionVersionArn=second)["status"] == "ACTIVE"
    personalize.update_campaign(campaignArn=campaign, solutionVersionArn=second)
    deadline = time.monotonic() + 60
    while personalize.describe_campaign(campaignArn=campaign)["campaign"]["solutionVersionArn"] != second:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    learned = ids(runtime.get_recommendations(campaignArn=campaign, userId="newcomer", numResults=5))
    assert sum(int(item[5:]) // PER_GROUP == GROUPS - 1 for item in learned) >= 4  # the newcomer's new taste

    # 6. Clean up, dependants first.
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_solution(solutionArn=solution)  # its campaign still exists
    personalize.delete_campaign(campaignArn=campaign)
    assert_gone(personalize.describe_campaign, campaignArn=campaign)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(campaignArn=campaign, userId="user1")
    personalize.delete_solution(solutionArn=solution)
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_dataset_group(datasetGroupArn=group)  # its event tracker, filter and dataset
    personalize.delete_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    personalize.delete_filter(filterArn=unwatched)
    assert_gone(personalize.describe_filter, filterArn=unwatched)
    personalize.delete_dataset(datasetArn=dataset)
    assert_gone(personalize.describe_dataset, datasetArn=dataset)
    personalize.delete_schema(schemaArn=schema)
    personalize.delete_dataset_group(datasetGroupArn=group)
    assert_gone(personalize.describe_dataset_group, datasetGroupArn=group)
    with pytest.raises(events.exceptions.InvalidInputException):
        events.put_events(trackingId=tracker["trackingId"], userId="newcomer", sessionId="session-1",
                          eventList=[{"eventType": "watch", "itemId": "movie1", "sentAt": time.time()}])
