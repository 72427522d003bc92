"""Idempotent creates: describe before create, adopt what is ours, never touch what is not.

A retried step, an automatic run retry or a re-execution carries the same root run id, hence the
same names: whatever the first attempt created (and paid for) is found and reused, not created again.
"""

from __future__ import annotations

import json
import time
from typing import Callable

from botocore.exceptions import ClientError

from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import FAILED, PollSettings, sleeps


class CannotAdopt(Exception):
    """A resource with our name exists but is not one this run may adopt (foreign, or failed)."""


def tags_of(client, arn: str) -> dict[str, str]:
    return {t["tagKey"]: t["tagValue"] for t in client.list_tags_for_resource(resourceArn=arn)["tags"]}


def ensure(client, rtype: rt.ResourceType, names: RunNames, name: str, create: Callable[[], str],
           log: Callable[[str], None], *, fresh: bool = False, quota_wait: PollSettings | None = None,
           **list_filters) -> str:
    """The ARN of our resource called ``name``: adopted if it exists (and is ours), created otherwise.

    ``fresh``: the name is new to this attempt (jobs), so only a create that botocore retried after a
    timeout can find it taken, by the very resource it created (and bills): adopted, not failed.
    ``quota_wait``: a create refused by a region quota (LimitExceededException: other deployments hold the
    slots) waits for a free slot, up to the job timeout, instead of failing the run.
    """
    found = None if fresh else rtype.find(client, name, **list_filters)
    if found is None:
        try:
            arn = _create(create, quota_wait, log, f"{rtype.noun} {name}")
            log(f"created {arn}")
            return arn
        except ClientError as e:
            # Another attempt (or botocore's retry) created it between our describe and create: adopt it.
            if rt.error_code(e) != "ResourceAlreadyExistsException":
                raise
            found = rtype.find(client, name, **list_filters)
            if found is None:
                raise
    arn = found[rtype.arn_key]
    if not names.owns(tags_of(client, arn)):
        raise CannotAdopt(f"{arn} exists but does not carry the ownership tags of run {names.run_id} "
                      f"(deployment {names.deployment}); refusing to use or change it")
    if found.get("status") in FAILED:
        raise CannotAdopt(f"{arn} of an earlier attempt is {found['status']}; it will be removed by the cleanup")
    log(f"adopting {arn} ({found.get('status')}) from an earlier attempt of this run")
    return arn


def _create(create: Callable[[], str], quota_wait: PollSettings | None, log: Callable[[str], None], what: str) -> str:
    if quota_wait is None:
        return create()
    start = time.monotonic()
    for pause in sleeps(quota_wait):
        try:
            return create()
        except ClientError as e:
            elapsed = time.monotonic() - start
            if rt.error_code(e) != "LimitExceededException" or elapsed > quota_wait.job_timeout:
                raise
            log(f"{what}: the region's quota is full ({e.response['Error'].get('Message', '')}); "
                f"waiting for a free slot, {elapsed:.0f}s so far")
            time.sleep(pause)
    raise AssertionError("unreachable")


def ensure_schema(client, name: str, schema_json: str, log: Callable[[str], None]) -> str:
    """Schemas cannot be tagged: ours by name (the run's prefix), and only if the fields are the same."""
    found = rt.SCHEMA.find(client, name)
    if found is None:
        try:
            arn = client.create_schema(name=name, schema=schema_json)["schemaArn"]
            log(f"created {arn}")
            return arn
        except ClientError as e:
            if rt.error_code(e) != "ResourceAlreadyExistsException":
                raise
            found = rt.SCHEMA.find(client, name)
            if found is None:
                raise
    existing = rt.SCHEMA.describe(client, found["schemaArn"])["schema"]
    if json.loads(existing) != json.loads(schema_json):
        raise CannotAdopt(f"schema {name} already exists with different fields; schemas are immutable")
    log(f"adopting {found['schemaArn']}")
    return found["schemaArn"]


def find_reusable(client, rtype: rt.ResourceType, names: RunNames, matches: Callable[[dict], bool],
                  **list_filters) -> dict | None:
    """The newest job (or version) of ours under a parent that ``matches`` and did not fail.

    Jobs can't be renamed or re-run; an ACTIVE or still running one of an earlier attempt is what
    a retry should wait for instead of paying for the same work again.
    """
    for summary in rtype.list(client, **list_filters):
        if summary.get("status") in FAILED:
            continue
        arn = summary[rtype.arn_key]
        if names.owns(tags_of(client, arn)):
            full = rtype.describe(client, arn)
            if matches(full):
                return full
    return None
