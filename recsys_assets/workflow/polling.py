"""Waiting for Personalize: every create and delete is asynchronous and boto3 has no waiters."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
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
# A wait logs each change of status and, while the status stays, at most this often: every ~30 s locally
# (polls every 0.5-2 s), every poll on AWS (polls every 30 s, backing off to 5 min).
PROGRESS_EVERY = 30.0


@dataclass(frozen=True)
class PollSettings:
    interval: float = 30.0
    max_interval: float = 300.0
    # Per kind of wait: training takes hours, a dataset group minutes. Training past its timeout is
    # also a cost rail: the caller stops it rather than keep paying.
    resource_timeout: float = 1800.0
    job_timeout: float = 6 * 3600.0
    training_timeout: float = 12 * 3600.0
    # ResourceType -> seconds its wait took on earlier runs (None: unknown), so progress lines say what is left.
    expected: dict[ResourceType, float | None] = field(default_factory=dict)

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


def duration(seconds: float) -> str:
    """``45s``, ``3m10s``, ``2h05m``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def label(rtype: ResourceType) -> str:
    return rtype.noun.replace("_", " ")


def progress(status: str, elapsed: float, expected: float | None) -> str:
    """``CREATE IN_PROGRESS for 3m10s; previous runs took about 5m00s, ~1m50s left``."""
    line = f"{status} for {duration(elapsed)}"
    if expected:
        left = expected - elapsed
        line += f"; previous runs took about {duration(expected)}, " + (
            f"~{duration(left)} left" if left > 0 else f"{duration(-left)} longer so far")
    return line


def wait_for_status(client, rtype: ResourceType, arn: str, poll: PollSettings, log: Callable[[str], None], *,
                    done: Callable[[str], bool] = lambda status: status == "ACTIVE",
                    failed: tuple[str, ...] = FAILED) -> dict:
    """Poll describe until ``done(status)``; ResourceFailed on a failed state, WaitTimeout past the type's timeout.

    Logs each change of status (with elapsed time and, from ``poll.expected``, what is likely left) and a
    reminder every PROGRESS_EVERY seconds; nothing if the resource is done at the first poll.
    """
    start, timeout, expected = time.monotonic(), poll.timeout(rtype), poll.expected.get(rtype)
    what, last_status, last_logged = f"{label(rtype)} {arn}", None, 0.0
    for pause in sleeps(poll):
        elapsed = time.monotonic() - start
        try:
            res = rtype.describe(client, arn)
        except ClientError as e:
            if error_code(e) not in THROTTLING or elapsed > timeout:
                raise
            log(f"{what}: describe throttled after {duration(elapsed)}; polling on")
            time.sleep(pause)
            continue
        status = res.get("status", "")
        if status in failed or done(status):
            if status in failed or last_status is not None:
                log(f"{what}: {status} after {duration(elapsed)}")
            if status in failed:
                raise ResourceFailed(arn, status, res.get("failureReason"))
            return res
        if status != last_status or elapsed - last_logged >= PROGRESS_EVERY:
            log(f"{what}: {progress(status, elapsed, expected)}")
            last_status, last_logged = status, elapsed
        if elapsed > timeout:
            raise WaitTimeout(arn, status, elapsed)
        time.sleep(pause)
    raise AssertionError("unreachable")


def wait_until_deleted(client, rtype: ResourceType, arn: str, poll: PollSettings, log: Callable[[str], None]) -> None:
    """Poll until describe raises ResourceNotFoundException: only then is a delete done.

    Logs one line once it is gone (``deleted <arn> (dataset group, 3s)``: the time waited), and the status only
    while the wait passes PROGRESS_EVERY seconds."""
    start, last_logged = time.monotonic(), 0.0
    for pause in sleeps(poll):
        elapsed = time.monotonic() - start
        try:
            status = rtype.describe(client, arn).get("status")
        except ClientError as e:
            if error_code(e) == "ResourceNotFoundException":
                log(f"deleted {arn} ({label(rtype)}, {duration(elapsed)})")
                return
            if error_code(e) not in THROTTLING or elapsed > poll.resource_timeout:
                raise
            status = "throttled"
        if elapsed > poll.resource_timeout:
            raise WaitTimeout(arn, status, elapsed)
        if elapsed - last_logged >= PROGRESS_EVERY:
            log(f"{label(rtype)} {arn}: {status} for {duration(elapsed)}")
            last_logged = elapsed
        time.sleep(pause)
