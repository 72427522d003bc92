"""Waiting for Personalize: every create and delete is asynchronous and boto3 has no waiters."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable

from botocore.exceptions import ClientError

# Personalize's terminal states [personalize-api.md §1.2].
FAILED = ("CREATE FAILED", "CREATE STOPPED")


@dataclass(frozen=True)
class PollSettings:
    interval: float = 30.0
    max_interval: float = 300.0
    timeout: float = 6 * 3600.0


class ResourceFailed(Exception):
    def __init__(self, arn: str, status: str, reason: str | None):
        super().__init__(f"{arn} ended {status}: {reason or 'no failureReason given'}")
        self.arn, self.status, self.reason = arn, status, reason


class WaitTimeout(Exception):
    pass


def _sleeps(poll: PollSettings):
    """Exponential back-off with jitter, capped; so a day-long wait costs few describe calls."""
    delay = poll.interval
    while True:
        yield delay * random.uniform(0.8, 1.2)
        delay = min(delay * 1.5, poll.max_interval)


def wait_for_status(describe: Callable[[], dict], arn: str, poll: PollSettings, log: Callable[[str], None], *,
                    done: Callable[[str], bool] = lambda status: status == "ACTIVE",
                    failed: tuple[str, ...] = FAILED) -> dict:
    """Poll ``describe()`` (returns the resource dict) until ``done(status)``; ResourceFailed on a failed state."""
    start, last = time.monotonic(), None
    for pause in _sleeps(poll):
        res = describe()
        status = res.get("status", "")
        elapsed = time.monotonic() - start
        if status != last:
            log(f"{arn}: {status} after {elapsed:.0f}s")
            last = status
        if status in failed:
            raise ResourceFailed(arn, status, res.get("failureReason"))
        if done(status):
            return res
        if elapsed > poll.timeout:
            raise WaitTimeout(f"{arn} still {status} after {elapsed:.0f}s (timeout {poll.timeout:.0f}s)")
        time.sleep(pause)
    raise AssertionError("unreachable")


def wait_until_deleted(describe: Callable[[], dict], arn: str, poll: PollSettings,
                       log: Callable[[str], None]) -> None:
    """Poll until ``describe()`` raises ResourceNotFoundException: only then is a delete done."""
    start = time.monotonic()
    for pause in _sleeps(poll):
        try:
            status = describe().get("status")
        except ClientError as e:
            if e.response["Error"]["Code"] == "ResourceNotFoundException":
                log(f"{arn}: deleted after {time.monotonic() - start:.0f}s")
                return
            raise
        if time.monotonic() - start > poll.timeout:
            raise WaitTimeout(f"{arn} still {status} after {poll.timeout:.0f}s while deleting")
        time.sleep(pause)
