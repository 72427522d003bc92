"""Waiting for Personalize: every create and delete is asynchronous and boto3 has no waiters."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable

from botocore.exceptions import ClientError

from recsys_assets.workflow.resource_types import ResourceType, error_code

# Personalize's terminal failures [personalize-api.md §1.2].
FAILED = ("CREATE FAILED", "CREATE STOPPED")
# botocore retries these itself, within a retry quota a long storm can drain; a poll then simply
# waits for its next turn instead of failing a run that is otherwise fine.
THROTTLING = ("ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "Throttling")
# Still being created, in every spelling in use: batch inference jobs are documented as PENDING | IN PROGRESS
# but the service answers CREATE PENDING | CREATE IN_PROGRESS [personalize-api.md §1.2; botocore's
# BatchInferenceJob.status]; IN_PROGRESS is the underscore form other statuses use.
IN_FLIGHT = ("PENDING", "IN PROGRESS", "IN_PROGRESS", "CREATE PENDING", "CREATE IN_PROGRESS", "CREATE STOPPING")


@dataclass(frozen=True)
class PollSettings:
    interval: float = 30.0
    max_interval: float = 300.0
    # Per kind of wait: training takes hours, a dataset group minutes. Training past its timeout is
    # also a cost rail: the caller stops it rather than keep paying.
    resource_timeout: float = 1800.0
    job_timeout: float = 6 * 3600.0
    training_timeout: float = 12 * 3600.0

    def timeout(self, rtype: ResourceType) -> float:
        if rtype.noun == "solution_version":
            return self.training_timeout
        if rtype.noun.endswith("_job"):
            return self.job_timeout
        return self.resource_timeout


class ResourceFailed(Exception):
    def __init__(self, arn: str, status: str, reason: str | None):
        super().__init__(f"{arn} ended {status}: {reason or 'no failureReason given'}")
        self.arn, self.status, self.reason = arn, status, reason


class WaitTimeout(Exception):
    def __init__(self, arn: str, status: str, elapsed: float):
        super().__init__(f"{arn} still {status} after {elapsed:.0f}s")
        self.arn, self.status = arn, status


def sleeps(poll: PollSettings):
    """Exponential back-off with jitter, capped; so a day-long wait costs few describe calls."""
    delay = poll.interval
    while True:
        yield delay * random.uniform(0.8, 1.2)
        delay = min(delay * 1.5, poll.max_interval)


def wait_for_status(client, rtype: ResourceType, arn: str, poll: PollSettings, log: Callable[[str], None], *,
                    done: Callable[[str], bool] = lambda status: status == "ACTIVE",
                    failed: tuple[str, ...] = FAILED) -> dict:
    """Poll describe until ``done(status)``; ResourceFailed on a failed state, WaitTimeout past the type's timeout.

    Every poll is logged with status and elapsed time, so a user watching the run sees it move.
    """
    start, timeout = time.monotonic(), poll.timeout(rtype)
    for pause in sleeps(poll):
        elapsed = time.monotonic() - start
        try:
            res = rtype.describe(client, arn)
        except ClientError as e:
            if error_code(e) not in THROTTLING or elapsed > timeout:
                raise
            log(f"{arn}: describe throttled after {elapsed:.0f}s; polling on")
            time.sleep(pause)
            continue
        status = res.get("status", "")
        log(f"{arn}: {status} after {elapsed:.0f}s")
        if status in failed:
            raise ResourceFailed(arn, status, res.get("failureReason"))
        if done(status):
            return res
        if elapsed > timeout:
            raise WaitTimeout(arn, status, elapsed)
        time.sleep(pause)
    raise AssertionError("unreachable")


def wait_until_deleted(client, rtype: ResourceType, arn: str, poll: PollSettings, log: Callable[[str], None]) -> None:
    """Poll until describe raises ResourceNotFoundException: only then is a delete done."""
    start = time.monotonic()
    for pause in sleeps(poll):
        elapsed = time.monotonic() - start
        try:
            status = rtype.describe(client, arn).get("status")
        except ClientError as e:
            if error_code(e) == "ResourceNotFoundException":
                log(f"{arn}: deleted after {elapsed:.0f}s")
                return
            if error_code(e) not in THROTTLING or elapsed > poll.resource_timeout:
                raise
            status = "throttled"
        log(f"{arn}: {status} after {elapsed:.0f}s")
        if elapsed > poll.resource_timeout:
            raise WaitTimeout(arn, status, elapsed)
        time.sleep(pause)
