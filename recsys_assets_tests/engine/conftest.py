"""Fixtures for the local Personalize engine's tests: a real boto3 client on a temporary engine root."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from recsys_assets.engine import lifecycle
from recsys_assets.engine.transport import local_client
from recsys_assets.storage import LocalObjectStore

from .contract import insert_version, make_dataset, make_group, make_solution


@pytest.fixture
def engine_root(tmp_path) -> Path:
    return tmp_path / "engine"


@pytest.fixture
def object_store(tmp_path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "s3")


@pytest.fixture
def make_personalize(engine_root, object_store):
    """``make_personalize(transition_seconds=0, region="us-east-1")``: another client on the same engine root.

    ``max_attempts`` defaults to 1: quota errors are ``LimitExceededException``, which botocore's
    standard retry mode counts as throttling and retries with back-off, as against AWS; a single
    attempt keeps those tests fast without changing what the engine answers.
    """

    def make(transition_seconds: float = 0.0, max_attempts: int = 1, region: str = "us-east-1"):
        return local_client(engine_root, object_store.config(), region=region,
                            transition_seconds=transition_seconds, max_attempts=max_attempts)

    return make


@pytest.fixture
def personalize(make_personalize):
    """A client whose resources are ACTIVE (or gone) on the call after their create (or delete)."""
    return make_personalize()


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_clock(monkeypatch) -> FakeClock:
    """Drives the service's time-based transitions, so lifecycle tests never depend on real timing."""
    clock = FakeClock()
    monkeypatch.setattr(lifecycle, "now", clock.time)
    return clock


@pytest.fixture(autouse=True)
def _reap_workers():
    """Kill worker processes a test started and left running (only ours: the Popen objects it holds)."""
    before = set(map(id, lifecycle.CHILDREN))
    yield
    for proc in list(lifecycle.CHILDREN):
        if id(proc) not in before and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)


@pytest.fixture
def trained(personalize, engine_root):
    """A group with interactions, items and users datasets and an ACTIVE (inserted) UP-v2 version."""
    group = make_group(personalize)
    for kind in ("interactions", "items", "users"):
        make_dataset(personalize, group, kind)
    solution = make_solution(personalize, group)
    return group, solution, insert_version(engine_root, solution, group)
