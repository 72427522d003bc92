"""``personalize-events`` as the local engine serves it: PutEvents, PutUsers and PutItems
[API_UBS_PutEvents, API_UBS_PutUsers, API_UBS_PutItems].

- PutEvents records up to 10 events of a session through an event tracker's ``trackingId`` in its dataset
  group's Item interactions dataset; an unknown trackingId is InvalidInputException, the one error the
  operation models. A record's USER_ID is ``userId``, or the ``sessionId`` when the user is anonymous
  (the service ties a session's events to the user when they log in [DG:recording-item-interaction-events];
  the engine keeps them under the session). TIMESTAMP is ``sentAt`` in whole seconds; ``properties`` keys
  are the schema's other fields in camel case (``numberOfRatings`` -> NUMBER_OF_RATINGS).
- PutUsers / PutItems add up to 10 records to a Users / Items dataset; a record with an ID that is already
  there replaces it [DG:importing-users, DG:importing-items].

New records count for filters on the next request (the runtime's filter data is rebuilt when a dataset
changes) and for a model after its next training, which reads the dataset [DG:incremental-data-updates].
Records are appended to the stored dataset inside a catalog transaction, so concurrent puts don't lose
each other's records.
"""

from __future__ import annotations

import json
import re

import pandas as pd

from recsys_assets.engine.core import DataPlaneService, ServiceCore
from recsys_assets.engine.errors import in_use, invalid
from recsys_assets.personalize_rules.schemas import DatasetSchema, dataset_label, parse_schema

_ID_FIELD = {"USERS": "USER_ID", "ITEMS": "ITEM_ID"}
# Event members that are columns of the Interactions dataset; the rest of its fields come from properties.
_EVENT_COLUMNS = {"itemId": "ITEM_ID", "eventType": "EVENT_TYPE", "eventValue": "EVENT_VALUE",
                  "recommendationId": "RECOMMENDATION_ID", "impression": "IMPRESSION"}


class LocalEvents(DataPlaneService):
    """personalize-events: PutEvents (through an event tracker), PutUsers, PutItems."""


def _field_name(key: str) -> str:
    """camelCase property name -> the schema's field name (numberOfRatings -> NUMBER_OF_RATINGS)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).upper()


def _properties(text, what: str) -> dict:
    if text is None:
        return {}
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as e:
        raise invalid(f"{what} properties must be a JSON object: {e.msg}.") from None
    if not isinstance(value, dict):
        raise invalid(f"{what} properties must be a JSON object.")
    return {_field_name(k): v for k, v in value.items()}


def _typed(schema: DatasetSchema, record: dict, what: str) -> dict:
    """The record with the schema's types; unknown fields, missing required ones and bad values refused."""
    unknown = [k for k in record if k not in schema.field_names]
    if unknown:
        raise invalid(f"{what}: the {schema.name} schema has no field {', '.join(unknown)}.")
    out = {}
    for f in schema.fields:
        value = record.get(f.name)
        if value is None or (value == "" and f.type != "string"):
            if not f.nullable:
                raise invalid(f"{what}: the required field {f.name} ({f.type}) has no value.")
            out[f.name] = None
            continue
        try:
            if f.type in ("int", "long"):
                if isinstance(value, bool) or float(value) != int(float(value)):
                    raise ValueError
                out[f.name] = int(float(value))
            elif f.type in ("float", "double"):
                out[f.name] = float(value)
            elif f.type == "boolean":
                if not isinstance(value, bool) and str(value).lower() not in ("true", "false"):
                    raise ValueError
                out[f.name] = value if isinstance(value, bool) else str(value).lower() == "true"
            else:
                out[f.name] = "|".join(map(str, value)) if isinstance(value, list) else str(value)
        except (TypeError, ValueError):
            raise invalid(f"{what}: {value!r} is not a valid {f.type} for field {f.name}.") from None
    return out


def _append(svc: ServiceCore, dataset_arn: str, schema: DatasetSchema, rows: list[dict], key: str | None) -> None:
    new = pd.DataFrame(rows, columns=schema.field_names)
    for f in schema.fields:
        if f.type in ("int", "long"):
            new[f.name] = pd.array(new[f.name], dtype="Int64")
        elif f.type in ("float", "double"):
            new[f.name] = new[f.name].astype("float64")
    previous = svc.data.read_dataset(dataset_arn)
    if previous is not None:
        previous = previous.assign(**{c: previous[c].astype(object) for c in ("USER_ID", "ITEM_ID")
                                      if c in previous.columns})
        new = pd.concat([previous, new], ignore_index=True)
    if key is not None:
        new = new.drop_duplicates(subset=[key], keep="last", ignore_index=True)
    svc.data.write_dataset(dataset_arn, new)


def put_events(svc: ServiceCore, p: dict) -> None:
    with svc.transaction() as txn:
        trackers = [t for t in txn.find("event-tracker") if t.body.get("trackingId") == p["trackingId"]]
        if not trackers:
            raise invalid(f"The tracking ID {p['trackingId']} doesn't match an event tracker.")
        tracker = trackers[0]
        if tracker.status != "ACTIVE":
            raise invalid(f"The event tracker {tracker.arn} is not ACTIVE (status: {tracker.status}).")
        datasets = [d for d in txn.find("dataset", tracker.parent) if d.body["datasetType"] == "INTERACTIONS"]
        if not datasets:
            raise invalid(f"Dataset group {tracker.parent} has no Item interactions dataset to record events in.")
        dataset = datasets[0]
        if dataset.status != "ACTIVE":
            raise invalid(f"The Item interactions dataset {dataset.arn} is not ACTIVE (status: {dataset.status}).")
        schema = parse_schema(svc.get(txn, dataset.body["schemaArn"], "schema").body["schema"])
        rows = []
        for n, event in enumerate(p["eventList"], 1):
            what = f"eventList.{n}"
            record = _properties(event.get("properties"), what)
            clash = [k for k in record if k in (*_EVENT_COLUMNS.values(), "USER_ID", "TIMESTAMP")]
            if clash:
                raise invalid(f"{what}: {', '.join(clash)} is an event member, not a property.")
            record["USER_ID"] = p.get("userId") or p["sessionId"]
            sent = event["sentAt"]
            record["TIMESTAMP"] = int(sent.timestamp() if hasattr(sent, "timestamp") else float(sent))
            for member, column in _EVENT_COLUMNS.items():
                if event.get(member) is not None:
                    record[column] = event[member]
            for column in ("RECOMMENDATION_ID", "IMPRESSION"):
                # Kept only where the schema has the field: the service uses them for its own metrics.
                if column in record and column not in schema.field_names:
                    del record[column]
            rows.append(_typed(schema, record, what))
        _append(svc, dataset.arn, schema, rows, None)


def _put_records(svc: ServiceCore, p: dict, dataset_type: str, member: str, id_member: str) -> None:
    with svc.transaction() as txn:
        dataset = svc.get(txn, p["datasetArn"], "dataset")
        if dataset.body["datasetType"] != dataset_type:
            raise invalid(f"Dataset {dataset.arn} is a {dataset_label(dataset.body['datasetType'])} dataset; "
                          f"{member} go to a {dataset_label(dataset_type)} dataset.")
        if dataset.status != "ACTIVE":
            raise in_use(f"Dataset {dataset.arn} is not ACTIVE (status: {dataset.status}).")
        schema = parse_schema(svc.get(txn, dataset.body["schemaArn"], "schema").body["schema"])
        key = _ID_FIELD[dataset_type]
        rows = []
        for n, record in enumerate(p[member], 1):
            what = f"{member}.{n}"
            fields = _properties(record.get("properties"), what)
            if key in fields:
                raise invalid(f"{what}: {key} is the {id_member} member, not a property.")
            rows.append(_typed(schema, {key: record[id_member], **fields}, what))
        _append(svc, dataset.arn, schema, rows, key)


def put_users(svc: ServiceCore, p: dict) -> None:
    _put_records(svc, p, "USERS", "users", "userId")


def put_items(svc: ServiceCore, p: dict) -> None:
    _put_records(svc, p, "ITEMS", "items", "itemId")


OPERATIONS = {"PutEvents": put_events, "PutUsers": put_users, "PutItems": put_items}

LocalEvents.operations = OPERATIONS
