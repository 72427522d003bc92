"""What a run compares itself with: the quality gate's last good run, and how long earlier runs' waits took."""

import dagster as dg

from recsys_assets.assets.personalize import _last_good_metrics, _typical_seconds

NDCG = "normalized_discounted_cumulative_gain_at_10"
ENGINE = "local-engine-2"


def _version(deployment: str, database: str, ndcg: float, protocol: str | None = ENGINE, metric_keys: bool = False):
    """A stand-in for solution_version with the metadata the gate reads (``protocol`` None: recorded before
    metrics_protocol; ``metric_keys``: before metrics_json too, one metric/<name> key per metric)."""
    metrics = {f"metric/{NDCG}": ndcg} if metric_keys else {"metrics_json": dg.MetadataValue.json({NDCG: ndcg})}
    same = {"deployment": deployment, "database": database}
    if protocol is not None:
        same["metrics_protocol"] = protocol

    @dg.asset(name="solution_version")
    def version():
        return dg.MaterializeResult(metadata={**same, **metrics})

    return [version]


def _run(instance, deployment, database, ndcg, **kw):
    return dg.materialize(_version(deployment, database, ndcg, **kw), instance=instance, raise_on_error=False).run_id


def _last_good(instance, deployment="recsys", database="sqlite:///a.db", protocol=ENGINE, this_run="now"):
    return _last_good_metrics(instance, deployment=deployment, database=database, protocol=protocol,
                              this_run=this_run)


def test_only_successful_runs_of_the_same_deployment_and_database_count():
    with dg.instance_for_test() as instance:
        shop_a = _run(instance, "recsys", "sqlite:///a.db", 0.20)
        _run(instance, "recsys", "sqlite:///b.db", 0.90)  # another database
        _run(instance, "staging", "sqlite:///a.db", 0.80)  # another deployment
        current = _run(instance, "recsys", "sqlite:///a.db", 0.15)
        assert _last_good(instance, this_run=current) == ({NDCG: 0.20}, shop_a)
        assert _last_good(instance, database="sqlite:///c.db", this_run=current) is None


def test_only_runs_whose_metrics_were_computed_the_same_way_count():
    # The engine's earlier split measured other test users, the service measures its own: neither is a baseline
    # for the other, however much better it scored.
    with dg.instance_for_test() as instance:
        engine = _run(instance, "recsys", "sqlite:///a.db", 0.20)
        _run(instance, "recsys", "sqlite:///a.db", 0.90, protocol="local-engine-1")
        _run(instance, "recsys", "sqlite:///a.db", 0.80, protocol="aws")
        _run(instance, "recsys", "sqlite:///a.db", 0.70, protocol=None)
        _run(instance, "recsys", "sqlite:///a.db", 0.60, protocol=None, metric_keys=True)
        current = _run(instance, "recsys", "sqlite:///a.db", 0.15)
        assert _last_good(instance, this_run=current) == ({NDCG: 0.20}, engine)
        assert _last_good(instance, protocol="aws", this_run=current)[0] == {NDCG: 0.80}
        assert _last_good(instance, protocol="local-engine-3", this_run=current) is None


def test_a_failed_run_is_no_baseline():
    with dg.instance_for_test() as instance:
        good = _run(instance, "recsys", "sqlite:///a.db", 0.20)
        failed = dg.materialize(_version("recsys", "sqlite:///a.db", 0.99) + [_failing_later()], instance=instance, raise_on_error=False)
        assert not failed.success
        found = _last_good(instance)
    assert found == ({NDCG: 0.20}, good)


def test_a_run_recorded_before_metrics_protocol_is_no_baseline():
    with dg.instance_for_test() as instance:
        _run(instance, "recsys", "sqlite:///a.db", 0.20, protocol=None)
        _run(instance, "recsys", "sqlite:///a.db", 0.20, protocol=None, metric_keys=True)
        assert _last_good(instance) is None


def _failing_later():
    @dg.asset(deps=["solution_version"])
    def later():
        raise RuntimeError("the run failed after training")

    return later


def _trained(instance, minutes: float, *, deployment="recsys", recipe="v2", reused=False) -> str:
    @dg.asset(name="solution_version")
    def version():
        return dg.MaterializeResult(metadata={"deployment": deployment, "recipe_arn": recipe, "training_minutes": minutes,
                                              "reused_earlier_training": reused})

    return dg.materialize([version], instance=instance).run_id


def _expected(instance, this_run="now", **same):
    return _typical_seconds(instance, dg.AssetKey("solution_version"), "training_minutes",
                            reused_key="reused_earlier_training", this_run=this_run,
                            **{"deployment": "recsys", "recipe_arn": "v2", **same})


def test_a_wait_expects_the_median_of_the_last_five_like_runs():
    with dg.instance_for_test() as instance:
        assert _expected(instance) is None  # the first run: nothing to go by
        for minutes in (90, 4, 5, 6, 100, 7):  # the oldest (90) is past the last five
            _trained(instance, minutes)
        _trained(instance, 0.1, reused=True)  # a re-execution that reused the training took no time
        _trained(instance, 500, deployment="staging")
        _trained(instance, 300, recipe="v1-with-hpo")
        this_run = _trained(instance, 50)
        assert _expected(instance, this_run=this_run) == 6 * 60  # median of 4, 5, 6, 100, 7
        assert _expected(instance, this_run=this_run, deployment="staging") == 500 * 60
        assert _expected(instance, this_run=this_run, recipe_arn="aws-popularity-count") is None
