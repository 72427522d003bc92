"""Pure workflow helpers: names and ownership, and the polling loop."""

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from recsys_assets.workflow import polling, resource_types as rt
from recsys_assets.workflow.naming import DEPLOYMENT_TAG, RUN_TAG, RunNames, schema_name_pattern
from recsys_assets.workflow.polling import (
    PollSettings,
    ResourceFailed,
    WaitTimeout,
    duration,
    wait_for_status,
    wait_until_deleted,
)

FAST = PollSettings(interval=0.001, max_interval=0.002)
RUN_ID = "0f3c9a2e-1111-2222-3333-444455556666"


def test_names_fit_personalize_limits_and_derive_from_run():
    names = RunNames("shop-prod", RUN_ID)
    assert names.dataset_group == "shop-prod-0f3c9a2e"
    assert names.schema("interactions").startswith(names.schema_prefix)
    longest = RunNames("d" * 20, RUN_ID)
    assert all(len(n) <= 63 for n in (longest.job("import-interactions"), longest.schema("interactions"),
                                      longest.filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x")'),
                                      longest.solution({"recipeArn": "r"}), longest.dataset("interactions")))


def test_config_changes_get_their_own_solution_and_filter():
    names = RunNames("recsys", RUN_ID)
    assert names.solution({"recipeArn": "a", "performHPO": False}) == names.solution({"performHPO": False,
                                                                                       "recipeArn": "a"})
    assert names.solution({"recipeArn": "a"}) != names.solution({"recipeArn": "b"})
    assert names.filter("EXCLUDE x") != names.filter("EXCLUDE y")


def test_schema_pattern_does_not_match_other_deployments():
    pattern = schema_name_pattern("recsys")
    assert pattern.match(RunNames("recsys", RUN_ID).schema("users"))
    assert not pattern.match(RunNames("recsys-staging", RUN_ID).schema("users"))
    assert not pattern.match("recsys-notahex1-users")


def test_job_names_are_unique_per_attempt():
    names = RunNames("recsys", RUN_ID)
    assert len({names.job("batch") for _ in range(100)}) == 100


@pytest.mark.parametrize("bad", ["", "-x", "has space", "a" * 21, "under_score"])
def test_bad_deployment_prefix_is_refused(bad):
    with pytest.raises(ValueError, match="deployment prefix"):
        RunNames(bad, RUN_ID)


def test_ownership_needs_both_tags():
    names = RunNames("recsys", RUN_ID)
    tags = {t["tagKey"]: t["tagValue"] for t in names.tags}
    assert names.owns(tags)
    assert not names.owns({DEPLOYMENT_TAG: "recsys"})
    assert not names.owns({**tags, RUN_TAG: "another-run"})
    assert not names.owns({**tags, DEPLOYMENT_TAG: "other-deployment"})


class FakeClient:
    """describe_dataset_group answers from a script: dicts are returned, exceptions raised."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def describe_dataset_group(self, datasetGroupArn):
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return {"datasetGroup": answer}


def _error(code):
    return ClientError({"Error": {"Code": code, "Message": code}}, "DescribeDatasetGroup")


class FakeClock:
    """time for the polling module: sleep() advances monotonic(), so a long wait takes no time."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    """A fake clock, and polls exactly ``interval`` apart (no jitter)."""
    fake = FakeClock()
    monkeypatch.setattr(polling, "time", fake)
    monkeypatch.setattr(polling, "random", SimpleNamespace(uniform=lambda low, high: 1.0))
    return fake


def test_wait_logs_each_change_of_status_not_each_poll():
    client, logged = FakeClient({"status": "CREATE PENDING"}, {"status": "CREATE IN_PROGRESS"},
                                {"status": "CREATE IN_PROGRESS"}, {"status": "ACTIVE", "x": 1}), []
    assert wait_for_status(client, rt.DATASET_GROUP, "arn:x", FAST, logged.append) == {"status": "ACTIVE", "x": 1}
    assert logged == ["dataset group arn:x: CREATE PENDING for 0s", "dataset group arn:x: CREATE IN_PROGRESS for 0s",
                      "dataset group arn:x: ACTIVE after 0s"]


def test_a_long_wait_says_how_long_and_what_is_left_every_30_seconds(clock):
    """Polled every 2 s for 10 minutes: a line per change of status, and one every PROGRESS_EVERY (30 s)."""
    poll = PollSettings(interval=2, max_interval=2, expected={rt.DATASET_GROUP: 400.0})
    client, logged = FakeClient({"status": "CREATE PENDING"}, *[{"status": "CREATE IN_PROGRESS"}] * 300,
                                {"status": "ACTIVE"}), []
    wait_for_status(client, rt.DATASET_GROUP, "arn:x", poll, logged.append)
    assert client.calls == 302 and len(logged) == 22  # not 302
    prefix = "dataset group arn:x: "
    assert logged[:3] == [prefix + "CREATE PENDING for 0s; previous runs took about 6m40s, ~6m40s left",
                          prefix + "CREATE IN_PROGRESS for 2s; previous runs took about 6m40s, ~6m38s left",
                          prefix + "CREATE IN_PROGRESS for 32s; previous runs took about 6m40s, ~6m08s left"]
    # Past the previous runs' time it says by how much, instead of counting down below zero.
    assert logged[-2:] == [prefix + "CREATE IN_PROGRESS for 9m32s; previous runs took about 6m40s, 2m52s longer so far",
                           prefix + "ACTIVE after 10m02s"]


def test_without_earlier_runs_a_wait_only_says_how_long(clock):
    client, logged = FakeClient({"status": "CREATE IN_PROGRESS"}, {"status": "ACTIVE"}), []
    wait_for_status(client, rt.DATASET_GROUP, "arn:x", PollSettings(interval=45, max_interval=45), logged.append)
    assert logged == ["dataset group arn:x: CREATE IN_PROGRESS for 0s", "dataset group arn:x: ACTIVE after 45s"]


def test_a_resource_done_at_the_first_poll_logs_nothing():
    """As teardown's settle finds most resources: nothing to wait for, nothing to say."""
    logged = []
    wait_for_status(FakeClient({"status": "ACTIVE"}), rt.DATASET_GROUP, "arn:x", FAST, logged.append)
    assert logged == []


def test_a_delete_logs_one_line_when_gone_and_progress_only_if_slow(clock):
    client, logged = FakeClient({"status": "DELETE PENDING"}, {"status": "DELETE PENDING"},
                                _error("ResourceNotFoundException")), []
    wait_until_deleted(client, rt.DATASET_GROUP, "arn:x", PollSettings(interval=1, max_interval=1), logged.append)
    assert logged == ["deleted arn:x (dataset group, 2s)"]
    slow, logged = FakeClient(*[{"status": "DELETE PENDING"}] * 40, _error("ResourceNotFoundException")), []
    wait_until_deleted(slow, rt.DATASET_GROUP, "arn:x", PollSettings(interval=2, max_interval=2), logged.append)
    assert logged == ["dataset group arn:x: DELETE PENDING for 30s", "dataset group arn:x: DELETE PENDING for 1m00s",
                      "deleted arn:x (dataset group, 1m20s)"]


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (45, "45s"), (190, "3m10s"), (3600, "1h00m"),
                                               (7530, "2h05m")])
def test_durations_read_as_a_person_says_them(seconds, text):
    assert duration(seconds) == text


def test_wait_raises_with_failure_reason():
    client = FakeClient({"status": "CREATE FAILED", "failureReason": "Input CSV is missing AGE"})
    with pytest.raises(ResourceFailed, match="missing AGE") as err:
        wait_for_status(client, rt.DATASET_GROUP, "arn:x", FAST, lambda _: None)
    assert err.value.status == "CREATE FAILED"


def test_each_kind_of_wait_has_its_own_timeout():
    poll = PollSettings(0.001, 0.001, resource_timeout=0.01, job_timeout=2, training_timeout=3)
    assert (poll.timeout(rt.DATASET_GROUP), poll.timeout(rt.DATASET_IMPORT_JOB),
            poll.timeout(rt.SOLUTION_VERSION)) == (0.01, 2, 3)
    with pytest.raises(WaitTimeout, match="still CREATE PENDING"):
        wait_for_status(FakeClient({"status": "CREATE PENDING"}), rt.DATASET_GROUP, "arn:x", poll, lambda _: None)


def test_wait_until_deleted_ends_on_not_found_only():
    client = FakeClient({"status": "DELETE PENDING"}, {"status": "DELETE PENDING"},
                        _error("ResourceNotFoundException"))
    wait_until_deleted(client, rt.DATASET_GROUP, "arn:x", FAST, lambda _: None)
    assert client.calls == 3
    with pytest.raises(ClientError):
        wait_until_deleted(FakeClient(_error("AccessDeniedException")), rt.DATASET_GROUP, "arn:x", FAST,
                           lambda _: None)


def test_a_throttled_poll_waits_for_its_next_turn():
    client, logged = FakeClient(_error("ThrottlingException"), _error("ThrottlingException"), {"status": "ACTIVE"}), []
    assert wait_for_status(client, rt.DATASET_GROUP, "arn:x", FAST, logged.append)["status"] == "ACTIVE"
    assert sum("throttled" in line for line in logged) == 2
    with pytest.raises(ClientError):  # other errors are not swallowed
        wait_for_status(FakeClient(_error("InvalidInputException")), rt.DATASET_GROUP, "arn:x", FAST, print)
