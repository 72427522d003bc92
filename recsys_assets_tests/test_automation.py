"""Schedules and cleanup sensors, through Dagster's build_*_context helpers."""

from datetime import datetime, timezone

import dagster as dg

from recsys_assets.automation import (
    cleanup_after_batch_output,
    cleanup_after_failure,
    cleanup_after_success,
    cleanup_job,
    cleanup_run_config,
    ScheduleSettings,
    daily_job,
    daily_schedule,
    orphan_sweep_schedule,
)
from recsys_assets.workflow.naming import RunNames
from recsys_assets_tests.conftest import with_fields


@dg.asset
def ok():
    return 1


@dg.asset
def broken():
    raise RuntimeError("boom")


@dg.asset(name="batch_output")
def fake_batch_output():
    return 1


def _run(instance, asset, **tags):
    return dg.materialize([asset], instance=instance, raise_on_error=False, tags=tags or None)


def _status_context(sensor, instance, result, run=None):
    event = result.get_run_success_event() if result.success else result.get_run_failure_event()
    context = dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_instance=instance,
                                                 dagster_run=run or result.dagster_run, dagster_event=event)
    return context if result.success else context.for_run_failure()


def test_cleanup_config_names_the_run():
    assert cleanup_run_config("r1") == {"ops": {"teardown_personalize_resources": {
        "config": {"run_id": "r1", "sweep": False, "dry_run": False}}}}


def test_success_sensor_requests_cleanup_for_the_finished_run():
    with dg.instance_for_test() as instance:
        result = _run(instance, ok)
        request = cleanup_after_success(_status_context(cleanup_after_success, instance, result))
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == result.run_id
    assert request.run_config == cleanup_run_config(result.run_id)


def test_success_sensor_leaves_runs_with_batch_output_to_the_asset_sensor():
    with dg.instance_for_test() as instance:
        result = _run(instance, fake_batch_output)
        assert isinstance(cleanup_after_success(_status_context(cleanup_after_success, instance, result)),
                          dg.SkipReason)


def test_batch_output_materialization_requests_cleanup_of_its_root_run():
    with dg.instance_for_test() as instance:
        result = _run(instance, fake_batch_output, **{"dagster/root_run_id": "root-run-1"})
        with dg.build_sensor_context(instance=instance, sensor_name=cleanup_after_batch_output.name) as context:
            data = cleanup_after_batch_output.evaluate_tick(context)
    assert [r.run_config for r in data.run_requests] == [cleanup_run_config("root-run-1")]
    assert data.run_requests[0].run_key == result.run_id


def test_failure_sensor_requests_cleanup_for_the_root_run():
    with dg.instance_for_test() as instance:
        # A re-execution's resources carry its root run's id: that is what must be cleaned.
        result = _run(instance, broken, **{"dagster/root_run_id": "root-run-1234"})
        assert not result.success
        request = cleanup_after_failure(_status_context(cleanup_after_failure, instance, result))
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == result.run_id
    assert request.run_config == cleanup_run_config("root-run-1234")


def test_failure_sensor_waits_for_a_pending_retry():
    with dg.instance_for_test() as instance:
        result = _run(instance, broken, **{"dagster/will_retry": "true"})
        skip = cleanup_after_failure(_status_context(cleanup_after_failure, instance, result))
    assert isinstance(skip, dg.SkipReason) and "retried" in skip.skip_message


def test_cleanup_runs_are_not_cleaned_again():
    with dg.instance_for_test() as instance:
        result = _run(instance, ok)
        run = result.dagster_run._replace(job_name=cleanup_job.name)
        assert isinstance(cleanup_after_success(_status_context(cleanup_after_success, instance, result, run)),
                          dg.SkipReason)


def _tick(schedule):
    when = datetime(2026, 11, 29, 3, 15, tzinfo=timezone.utc)
    # Closing the context matters: an open one leaves Dagster's defs-state storage pointing at a dead instance.
    with dg.instance_for_test() as instance, dg.build_schedule_context(instance=instance,
                                                                       scheduled_execution_time=when) as context:
        return schedule.evaluate_tick(context)


def test_schedule_runs_the_daily_job_at_the_configured_time():
    schedule = daily_schedule(ScheduleSettings(cron="15 4 * * *", timezone="Europe/Berlin"), daily_job("recsys"))
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 4 * * *", "Europe/Berlin")
    assert schedule.job_name == "daily_recs_job"
    assert len(_tick(schedule).run_requests) == 1


def test_orphan_sweep_schedule_requests_a_sweep():
    schedule = orphan_sweep_schedule(ScheduleSettings(sweep_cron="5 * * * *"))
    assert schedule.job_name == "cleanup_job" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert [r.run_config for r in _tick(schedule).run_requests] == [cleanup_run_config(sweep=True)]


def test_sweep_spares_unfinished_runs_and_dry_run_deletes_nothing(local_resources):
    client = local_resources["personalize"].get_client()
    finished, going = "aaaaaaaa-0000-0000-0000-000000000000", "bbbbbbbb-0000-0000-0000-000000000000"
    groups = {}
    for run_id in (finished, going):
        names = RunNames("recsys", run_id)
        groups[run_id] = client.create_dataset_group(name=names.dataset_group, tags=names.tags)["datasetGroupArn"]
    foreign = client.create_dataset_group(name="not-ours")["datasetGroupArn"]
    resources = {k: local_resources[k] for k in ("personalize", "guardrails")}
    resources["guardrails"] = with_fields(resources["guardrails"], orphan_max_age_hours=0.0)
    with dg.instance_for_test() as instance:
        instance.add_run(dg.DagsterRun(job_name="daily_recs_job", run_id=going, status=dg.DagsterRunStatus.STARTED))
        dry = cleanup_job.execute_in_process(run_config=cleanup_run_config(sweep=True, dry_run=True),
                                             instance=instance, resources=resources)
        assert dry.output_for_node("teardown_personalize_resources")["deleted"] == [groups[finished]]
        assert len(client.list_dataset_groups()["datasetGroups"]) == 3
        swept = cleanup_job.execute_in_process(run_config=cleanup_run_config(sweep=True), instance=instance,
                                               resources=resources)
    assert swept.output_for_node("teardown_personalize_resources")["deleted"] == [groups[finished]]
    left = {g["datasetGroupArn"] for g in client.list_dataset_groups()["datasetGroups"]}
    assert left == {groups[going], foreign}


def test_cleanup_needs_a_run_or_a_sweep(local_resources):
    resources = {k: local_resources[k] for k in ("personalize", "guardrails")}
    result = cleanup_job.execute_in_process(run_config=cleanup_run_config(), resources=resources,
                                            raise_on_error=False)
    assert not result.success
