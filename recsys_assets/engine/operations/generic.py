"""Describe, List and Delete for every resource type, generic over the kind table."""

from __future__ import annotations

import base64
import json
import re
from typing import Callable

from recsys_assets.engine import lifecycle
from recsys_assets.engine.core import ServiceCore
from recsys_assets.engine.deletion import delete_blocker
from recsys_assets.engine.errors import ServiceError, in_use
from recsys_assets.engine.kinds import BY_LIST_OP, BY_OP, KINDS, PARENT_KINDS, Kind
from recsys_assets.engine.statuses import DELETABLE, DELETING


def route(operation: str) -> Callable[[ServiceCore, dict], dict] | None:
    """The handler of a Describe*, List* or Delete* operation, or None if it is not one of those."""
    generic = re.fullmatch(r"(Describe|List|Delete)(\w+)", operation)
    if generic is None:
        return None
    verb, noun = generic.groups()
    kind = BY_LIST_OP.get(noun) if verb == "List" else BY_OP.get(noun)
    if kind is None or not (verb == "List" or kind.creatable):
        return None
    handler = {"Describe": describe, "List": list_, "Delete": delete}[verb]
    return lambda svc, params: handler(svc, kind, params)


def describe(svc: ServiceCore, kind: Kind, params: dict) -> dict:
    with svc.transaction() as txn:
        res = svc.get(txn, params[kind.arn_key], kind.name)
        out = svc.payload(kind, res)
        if kind.name == "solution" and (versions := txn.find("solution-version", res.arn)):
            out["latestSolutionVersion"] = svc.payload(
                KINDS["solution-version"], versions[0], KINDS["solution-version"].summary)
        return {kind.wrapper: out}


def list_(svc: ServiceCore, kind: Kind, params: dict) -> dict:
    max_results = params.get("maxResults", 100)
    offset = decode_token(params.get("nextToken"), kind.name)
    with svc.transaction() as txn:
        parent = params.get(kind.list_parent) if kind.list_parent else None
        if parent is not None:
            svc.get(txn, parent, PARENT_KINDS[kind.list_parent])
        found = txn.find(kind.name, parent) if kind.creatable else []
    page = found[offset : offset + max_results]
    out: dict = {kind.list_key: [svc.payload(kind, r, kind.summary) for r in page]}
    if offset + max_results < len(found):
        out["nextToken"] = encode_token(offset + max_results, kind.name)
    return out


def delete(svc: ServiceCore, kind: Kind, params: dict) -> dict:
    arn = params[kind.arn_key]
    with svc.transaction() as txn:
        res = svc.get(txn, arn, kind.name)
        if kind.has_status:
            if res.status in DELETING:
                raise in_use(f"The resource {arn} is already being deleted.")
            if res.status not in DELETABLE:
                raise in_use(f"The resource {arn} can't be deleted while its status is {res.status}.")
        svc.require_no_update(res)
        blocker = delete_blocker(txn, res)
        if blocker:
            raise in_use(blocker)
        if not kind.has_status:  # schemas go at once
            txn.remove(arn)
            return {}
        now = lifecycle.now()
        res.status = "DELETE PENDING"
        lifecycle.begin(res, now, svc.transition_seconds)
        txn.save(res, now)
    return {}


def encode_token(offset: int, kind: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "k": kind}).encode()).decode()


def decode_token(token: str | None, kind: str) -> int:
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["k"] == kind and isinstance(data["o"], int) and data["o"] >= 0:
            return data["o"]
    except (ValueError, KeyError, TypeError):
        pass
    raise ServiceError("InvalidNextTokenException", "The token is not valid.")
