"""Pure workflow helpers: names and ownership, and the polling loop."""

import pytest
from botocore.exceptions import ClientError

from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.naming import DEPLOYMENT_TAG, RUN_TAG, RunNames, schema_name_pattern
from recsys_assets.workflow.polling import PollSettings, ResourceFailed, WaitTimeout, wait_for_status, wait_until_deleted

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


def test_wait_returns_once_active_and_logs_every_poll():
    client, logged = FakeClient({"status": "CREATE PENDING"}, {"status": "CREATE IN_PROGRESS"},
                                {"status": "CREATE IN_PROGRESS"}, {"status": "ACTIVE", "x": 1}), []
    assert wait_for_status(client, rt.DATASET_GROUP, "arn:x", FAST, logged.append) == {"status": "ACTIVE", "x": 1}
    assert [line.split(": ")[1].split(" after")[0] for line in logged] == [
        "CREATE PENDING", "CREATE IN_PROGRESS", "CREATE IN_PROGRESS", "ACTIVE"]


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
