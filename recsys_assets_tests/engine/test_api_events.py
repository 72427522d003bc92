"""Contract tests of ``personalize-events`` (PutEvents, PutUsers, PutItems) on the local engine, through a real
boto3 client: records land in the datasets (events appended, users/items upserted by ID), the documented
errors, and the deletion order with event trackers.
"""

from __future__ import annotations

import time

import pytest

from recsys_assets.engine.data import DataStore
from recsys_assets.engine.transport import local_events_client

from .contract import make_dataset, make_group


@pytest.fixture
def events(engine_root, object_store):
    return local_events_client(engine_root, object_store.config(), max_attempts=1)


@pytest.fixture
def group(personalize):
    arn = make_group(personalize)
    for kind in ("interactions", "items", "users"):
        make_dataset(personalize, arn, kind)
    return arn


def dataset(personalize, group: str, kind: str) -> str:
    return [d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]
            if d["datasetType"] == kind][0]


def tracker(personalize, group: str) -> tuple[str, str]:
    answer = personalize.create_event_tracker(name="t", datasetGroupArn=group)
    assert personalize.describe_event_tracker(eventTrackerArn=answer["eventTrackerArn"])["eventTracker"][
        "status"] == "ACTIVE"
    return answer["eventTrackerArn"], answer["trackingId"]


def test_put_events_appends_to_the_interactions_dataset(personalize, events, group, engine_root):
    _, tracking_id = tracker(personalize, group)
    sent = 1_800_000_000.5
    assert events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1", eventList=[
        {"eventType": "click", "itemId": "i1", "sentAt": sent, "eventValue": 4.5},
        {"eventType": "view", "itemId": "i2", "sentAt": sent + 1},
    ])["ResponseMetadata"]["HTTPStatusCode"] == 200
    events.put_events(trackingId=tracking_id, sessionId="anonymous-session",
                      eventList=[{"eventType": "view", "itemId": "i3", "sentAt": sent}])
    frame = DataStore(engine_root).read_dataset(dataset(personalize, group, "INTERACTIONS"))
    rows = frame.astype({"USER_ID": str, "ITEM_ID": str}).to_dict("records")
    assert [(r["USER_ID"], r["ITEM_ID"], r["TIMESTAMP"], r["EVENT_TYPE"]) for r in rows] == [
        ("u1", "i1", 1_800_000_000, "click"), ("u1", "i2", 1_800_000_001, "view"),
        ("anonymous-session", "i3", 1_800_000_000, "view")]
    assert rows[0]["EVENT_VALUE"] == 4.5


def test_put_events_errors(personalize, events, group):
    with pytest.raises(events.exceptions.InvalidInputException, match="tracking ID"):
        events.put_events(trackingId="no-such-tracker", sessionId="s",
                          eventList=[{"eventType": "click", "itemId": "i1", "sentAt": time.time()}])
    _, tracking_id = tracker(personalize, group)
    with pytest.raises(events.exceptions.InvalidInputException, match="NUMBER_OF_RATINGS"):
        events.put_events(trackingId=tracking_id, userId="u", sessionId="s", eventList=[
            {"eventType": "click", "itemId": "i1", "sentAt": time.time(), "properties": '{"numberOfRatings": "3"}'}])
    with pytest.raises(events.exceptions.InvalidInputException, match="ITEM_ID"):
        events.put_events(trackingId=tracking_id, userId="u", sessionId="s",
                          eventList=[{"eventType": "click", "sentAt": time.time()}])
    with pytest.raises(events.exceptions.InvalidInputException, match="eventType"):
        events.put_events(trackingId=tracking_id, userId="u", sessionId="s",
                          eventList=[{"eventType": "x" * 257, "itemId": "i1", "sentAt": time.time()}])


def test_put_items_and_users_upsert_by_id(personalize, events, group, engine_root):
    items = dataset(personalize, group, "ITEMS")
    events.put_items(datasetArn=items, items=[{"itemId": "i1", "properties": '{"categoryId": "red", "price": 1}'},
                                              {"itemId": "i2", "properties": '{"categoryId": "blue", "price": 2}'}])
    events.put_items(datasetArn=items, items=[{"itemId": "i1", "properties": '{"categoryId": "green", "price": 3}'}])
    frame = DataStore(engine_root).read_dataset(items).astype({"ITEM_ID": str}).set_index("ITEM_ID")
    assert frame.loc["i1", "CATEGORY_ID"] == "green" and frame.loc["i1", "PRICE"] == 3.0 and len(frame) == 2
    users = dataset(personalize, group, "USERS")
    events.put_users(datasetArn=users, users=[{"userId": "u1", "properties": '{"age": 30, "osDevice": "ios"}'},
                                              {"userId": "u2"}])
    events.put_users(datasetArn=users, users=[{"userId": "u1", "properties": '{"age": 31}'}])
    frame = DataStore(engine_root).read_dataset(users).astype({"USER_ID": str}).set_index("USER_ID")
    assert frame.loc["u1", "AGE"] == 31 and frame.loc["u1", "OS_DEVICE"] is None and len(frame) == 2


def test_put_items_and_users_errors(personalize, events, group, make_personalize, fake_clock):
    items, users = dataset(personalize, group, "ITEMS"), dataset(personalize, group, "USERS")
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.put_items(datasetArn=items + "x", items=[{"itemId": "i1"}])
    with pytest.raises(events.exceptions.InvalidInputException, match="Users"):
        events.put_items(datasetArn=users, items=[{"itemId": "i1"}])
    with pytest.raises(events.exceptions.InvalidInputException, match="COLOUR"):
        events.put_items(datasetArn=items, items=[{"itemId": "i1", "properties": '{"colour": "red"}'}])
    with pytest.raises(events.exceptions.InvalidInputException, match="PRICE"):
        events.put_items(datasetArn=items, items=[{"itemId": "i1", "properties": '{"categoryId": "a"}'}])
    with pytest.raises(events.exceptions.InvalidInputException, match="PRICE"):
        events.put_items(datasetArn=items, items=[{"itemId": "i1", "properties": '{"categoryId": "a", "price": "x"}'}])
    with pytest.raises(events.exceptions.InvalidInputException, match="items"):
        events.put_items(datasetArn=items, items=[{"itemId": f"i{j}"} for j in range(11)])  # at most 10
    slow = make_personalize(transition_seconds=60)
    other = make_group(personalize, name="other")
    schema = personalize.describe_dataset(datasetArn=users)["dataset"]["schemaArn"]
    pending = slow.create_dataset(name="later", datasetGroupArn=other, datasetType="Users",
                                  schemaArn=schema)["datasetArn"]
    with pytest.raises(events.exceptions.ResourceInUseException, match="not ACTIVE"):
        events.put_users(datasetArn=pending, users=[{"userId": "u1"}])


def test_a_dataset_group_with_an_event_tracker_cant_be_deleted(personalize, events, group):
    tracker_arn, tracking_id = tracker(personalize, group)
    for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]:
        if d["datasetType"] == "INTERACTIONS":
            with pytest.raises(personalize.exceptions.ResourceInUseException, match="event-tracker"):
                personalize.delete_dataset(datasetArn=d["datasetArn"])
        else:
            personalize.delete_dataset(datasetArn=d["datasetArn"])
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="event-tracker"):
        personalize.delete_dataset_group(datasetGroupArn=group)
    personalize.delete_event_tracker(eventTrackerArn=tracker_arn)
    with pytest.raises(events.exceptions.InvalidInputException, match="tracking ID"):  # gone with its tracker
        personalize.list_event_trackers()
        events.put_events(trackingId=tracking_id, sessionId="s",
                          eventList=[{"eventType": "click", "itemId": "i1", "sentAt": time.time()}])
    interactions = personalize.list_datasets(datasetGroupArn=group)["datasets"][0]["datasetArn"]
    personalize.delete_dataset(datasetArn=interactions)
    personalize.list_datasets(datasetGroupArn=group)
    personalize.delete_dataset_group(datasetGroupArn=group)
