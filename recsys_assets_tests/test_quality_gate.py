"""The quality gate compares like with like: the last successful run of the same deployment and database."""

import dagster as dg

from recsys_assets.assets.personalize import _last_good_metrics


def _version(deployment: str, database: str, ndcg: float):
    """A stand-in for solution_version with the metadata the gate reads."""
    @dg.asset(name="solution_version")
    def version():
        return dg.MaterializeResult(metadata={"deployment": deployment, "database": database,
                                              "metric/normalized_discounted_cumulative_gain_at_10": ndcg})

    return [version]


def _run(instance, deployment, database, ndcg):
    return dg.materialize(_version(deployment, database, ndcg), instance=instance, raise_on_error=False).run_id


def test_only_successful_runs_of_the_same_deployment_and_database_count():
    with dg.instance_for_test() as instance:
        shop_a = _run(instance, "recsys", "sqlite:///a.db", 0.20)
        _run(instance, "recsys", "sqlite:///b.db", 0.90)  # another database
        _run(instance, "staging", "sqlite:///a.db", 0.80)  # another deployment
        current = _run(instance, "recsys", "sqlite:///a.db", 0.15)
        assert _last_good_metrics(instance, deployment="recsys", database="sqlite:///a.db", this_run=current) == (
            {"normalized_discounted_cumulative_gain_at_10": 0.20}, shop_a)
        assert _last_good_metrics(instance, deployment="recsys", database="sqlite:///c.db", this_run=current) is None


def test_a_failed_run_is_no_baseline():
    with dg.instance_for_test() as instance:
        good = _run(instance, "recsys", "sqlite:///a.db", 0.20)
        failed = dg.materialize(_version("recsys", "sqlite:///a.db", 0.99) + [_failing_later()], instance=instance, raise_on_error=False)
        assert not failed.success
        found = _last_good_metrics(instance, deployment="recsys", database="sqlite:///a.db", this_run="now")
    assert found == ({"normalized_discounted_cumulative_gain_at_10": 0.20}, good)


def _failing_later():
    @dg.asset(deps=["solution_version"])
    def later():
        raise RuntimeError("the run failed after training")

    return later
