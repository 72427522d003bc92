"""Pure workflow helpers: names and ownership, and the polling loop."""

import pytest
from botocore.exceptions import ClientError

from recsys_assets.workflow.naming import DEPLOYMENT_TAG, RUN_TAG, RunNames
from recsys_assets.workflow.polling import PollSettings, ResourceFailed, WaitTimeout, wait_for_status, wait_until_deleted

FAST = PollSettings(interval=0.001, max_interval=0.002, timeout=5)
RUN_ID = "0f3c9a2e-1111-2222-3333-444455556666"


def test_names_fit_personalize_limits_and_derive_from_run():
    names = RunNames("shop-prod", RUN_ID)
    assert names.dataset_group == "shop-prod-0f3c9a2e"
    assert names.schema("interactions").startswith(names.schema_prefix)
    longest = RunNames("d" * 20, RUN_ID)
    assert all(len(n) <= 63 for n in (longest.job("import-interactions"), longest.schema("interactions"),
                                      longest.filter, longest.dataset("interactions")))


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


def _sequence(*states):
    calls = iter(states)
    logged = []
    return (lambda: next(calls)), logged


def test_wait_returns_once_active_and_logs_each_status():
    describe, logged = _sequence({"status": "CREATE PENDING"}, {"status": "CREATE IN_PROGRESS"},
                                 {"status": "CREATE IN_PROGRESS"}, {"status": "ACTIVE", "x": 1})
    assert wait_for_status(describe, "arn:x", FAST, logged.append) == {"status": "ACTIVE", "x": 1}
    assert [line.split(": ")[1].split(" after")[0] for line in logged] == ["CREATE PENDING", "CREATE IN_PROGRESS",
                                                                            "ACTIVE"]


def test_wait_raises_with_failure_reason():
    describe, logged = _sequence({"status": "CREATE FAILED", "failureReason": "Input CSV is missing AGE"})
    with pytest.raises(ResourceFailed, match="missing AGE") as err:
        wait_for_status(describe, "arn:x", FAST, logged.append)
    assert err.value.status == "CREATE FAILED"


def test_wait_times_out():
    with pytest.raises(WaitTimeout, match="still CREATE PENDING"):
        wait_for_status(lambda: {"status": "CREATE PENDING"}, "arn:x", PollSettings(0.001, 0.001, 0.01), print)


def test_wait_until_deleted_ends_on_not_found_only():
    calls = {"n": 0}

    def describe():
        calls["n"] += 1
        if calls["n"] < 3:
            return {"status": "DELETE PENDING"}
        raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "Describe")

    wait_until_deleted(describe, "arn:x", FAST, lambda _: None)
    assert calls["n"] == 3

    def refused():
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Describe")

    with pytest.raises(ClientError):
        wait_until_deleted(refused, "arn:x", FAST, lambda _: None)
