"""Schedules and cleanup sensors, through Dagster's build_*_context helpers."""

import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

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
from recsys_assets.automation.cleanup import teardown_personalize_resources
from recsys_assets.automation.sensors import cleanup_after_cancel
from recsys_assets.resources.environment import from_environment
from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.naming import RunNames
from recsys_assets_tests.conftest import refuse_deletes, with_fields


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


def _ticks(sensor, instance, happen):
    """The sensor as the daemon runs it, in a code location of its own: a first tick sets the cursor, then
    ``happen()`` ends a run that has no origin in that location, then a second tick sees it."""
    with dg.build_sensor_context(instance=instance, sensor_name=sensor.name, repository_name="recsys") as context:
        first = sensor.evaluate_tick(context)
    happen()
    with dg.build_sensor_context(instance=instance, sensor_name=sensor.name, repository_name="recsys",
                                 cursor=first.cursor) as context:
        return sensor.evaluate_tick(context)


def _cancel(instance, run_id="c0ffee00-1111-2222-3333-444455556666", job_name="__ASSET_JOB"):
    run = instance.add_run(dg.DagsterRun(job_name=job_name, run_id=run_id, status=dg.DagsterRunStatus.NOT_STARTED))
    instance.report_run_canceled(run)
    return instance.get_run_by_id(run_id)


def test_cleanup_config_names_the_run():
    assert cleanup_run_config("r1") == {"ops": {"teardown_personalize_resources": {
        "config": {"run_id": "r1", "dry_run": False, "delete_run_files": True}}}}
    assert cleanup_run_config(sweep=True) == cleanup_run_config()
    with pytest.raises(ValueError):
        cleanup_run_config("r1", sweep=True)


def test_success_sensor_requests_cleanup_for_the_finished_run():
    with dg.instance_for_test() as instance:
        result = _run(instance, ok)
        request = cleanup_after_success(_status_context(cleanup_after_success, instance, result))
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == result.run_id
    assert request.run_config == cleanup_run_config(result.run_id)


def test_batch_output_cleanup_keeps_the_files_the_end_of_the_run_deletes():
    """recommendations_table still reads the batch output after batch_output: only the run's end takes the files."""
    with dg.instance_for_test() as instance:
        result = _run(instance, fake_batch_output)
        with dg.build_sensor_context(instance=instance, sensor_name=cleanup_after_batch_output.name) as context:
            [early] = cleanup_after_batch_output.evaluate_tick(context).run_requests
        end = cleanup_after_success(_status_context(cleanup_after_success, instance, result))
    assert early.run_config == cleanup_run_config(result.run_id, delete_run_files=False)
    assert end.run_config == cleanup_run_config(result.run_id, delete_run_files=True)


def test_batch_output_materialization_requests_cleanup_of_its_root_run():
    with dg.instance_for_test() as instance:
        result = _run(instance, fake_batch_output, **{"dagster/root_run_id": "root-run-1"})
        with dg.build_sensor_context(instance=instance, sensor_name=cleanup_after_batch_output.name) as context:
            data = cleanup_after_batch_output.evaluate_tick(context)
    assert [r.run_config for r in data.run_requests] == [cleanup_run_config("root-run-1", delete_run_files=False)]
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


def test_the_last_run_of_a_root_to_end_cleans_up():
    """A re-execution still going shares its root's resources and files: an earlier attempt's end skips."""
    with dg.instance_for_test() as instance:
        result = _run(instance, broken, **{"dagster/root_run_id": "root-run-1234"})
        going = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id="5eed0000-1111-2222-3333-444455556666",
                                               status=dg.DagsterRunStatus.STARTED,
                                               tags={"dagster/root_run_id": "root-run-1234"}))
        skip = cleanup_after_failure(_status_context(cleanup_after_failure, instance, result))
        assert isinstance(skip, dg.SkipReason) and going.run_id in skip.skip_message
        instance.report_run_canceled(instance.get_run_by_id(going.run_id))
        request = cleanup_after_failure(_status_context(cleanup_after_failure, instance, result))
    assert isinstance(request, dg.RunRequest) and request.run_config == cleanup_run_config("root-run-1234")


def test_cleanup_runs_are_not_cleaned_again():
    with dg.instance_for_test() as instance:
        result = _run(instance, ok)
        run = result.dagster_run._replace(job_name=cleanup_job.name)
        assert isinstance(cleanup_after_success(_status_context(cleanup_after_success, instance, result, run)),
                          dg.SkipReason)
        canceled = _cancel(instance, job_name=cleanup_job.name)
        [event] = instance.get_records_for_run(canceled.run_id, of_type=dg.DagsterEventType.RUN_CANCELED).records
        context = dg.build_run_status_sensor_context(sensor_name=cleanup_after_cancel.name, dagster_instance=instance,
                                                     dagster_run=canceled,
                                                     dagster_event=event.event_log_entry.dagster_event)
        assert isinstance(cleanup_after_cancel(context), dg.SkipReason)


def test_canceled_run_gets_a_cleanup_request():
    with dg.instance_for_test() as instance:
        run = _cancel(instance)
        [event] = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_CANCELED).records
        context = dg.build_run_status_sensor_context(sensor_name=cleanup_after_cancel.name, dagster_instance=instance,
                                                     dagster_run=run, dagster_event=event.event_log_entry.dagster_event)
        request = cleanup_after_cancel(context)
    assert isinstance(request, dg.RunRequest) and request.run_key == run.run_id
    assert request.run_config == cleanup_run_config(run.run_id, delete_run_files=True)


@pytest.mark.parametrize("sensor, end", [
    (cleanup_after_success, lambda instance: _run(instance, ok).dagster_run),
    (cleanup_after_failure, lambda instance: _run(instance, broken).dagster_run),
    (cleanup_after_cancel, _cancel),
], ids=["success", "failure", "canceled"])
def test_runs_launched_elsewhere_are_cleaned_by_this_locations_cleanup_job(sensor, end):
    """A run of another job and code location (the CLI's ephemeral one, the Python API's, another location's
    __ASSET_JOB) ends: this location's sensor requests this location's cleanup job for it."""
    assert sensor.job_name == cleanup_job.name
    with dg.instance_for_test() as instance:
        ended = []
        data = _ticks(sensor, instance, lambda: ended.append(end(instance)))
    assert [(r.run_key, r.job_name, r.run_config) for r in data.run_requests] == [
        (ended[0].run_id, cleanup_job.name, cleanup_run_config(ended[0].run_id))]


def _tick(schedule):
    when = datetime(2026, 11, 29, 3, 15, tzinfo=timezone.utc)
    # Closing the context matters: an open one leaves Dagster's defs-state storage pointing at a dead instance.
    with dg.instance_for_test() as instance, dg.build_schedule_context(instance=instance,
                                                                       scheduled_execution_time=when) as context:
        return schedule.evaluate_tick(context)


def test_schedule_runs_the_daily_job_at_the_configured_time():
    schedule = daily_schedule(ScheduleSettings(cron="15 4 * * *", timezone="Europe/Berlin"), daily_job("recsys", 3600))
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 4 * * *", "Europe/Berlin")
    assert schedule.job_name == "daily_recs_job"
    assert len(_tick(schedule).run_requests) == 1


def test_orphan_sweep_schedule_requests_a_sweep():
    schedule = orphan_sweep_schedule(ScheduleSettings(sweep_cron="5 * * * *"))
    assert schedule.job_name == "cleanup_job" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert [r.run_config for r in _tick(schedule).run_requests] == [cleanup_run_config(sweep=True)]


def test_schedules_start_as_recsys_automation_says_and_the_cleanup_sensors_always_run():
    """`make dev` sets RECSYS_AUTOMATION=stopped: an idle dev instance neither runs the graph nor sweeps."""
    for environ, status in (({}, dg.DefaultScheduleStatus.RUNNING),
                            ({"RECSYS_AUTOMATION": "running"}, dg.DefaultScheduleStatus.RUNNING),
                            ({"RECSYS_AUTOMATION": "stopped"}, dg.DefaultScheduleStatus.STOPPED)):
        settings = from_environment(ScheduleSettings, environ)
        schedules = [daily_schedule(settings, daily_job("recsys", 3600)), orphan_sweep_schedule(settings)]
        assert [s.default_status for s in schedules] == [status, status]
        # Started by hand in the UI, a stopped-by-default schedule ticks as usual.
        assert [len(_tick(s).run_requests) for s in schedules] == [1, 1]
    for sensor in (cleanup_after_batch_output, cleanup_after_success, cleanup_after_failure, cleanup_after_cancel):
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_recsys_automation_takes_only_running_or_stopped():
    with pytest.raises(ValueError, match="RECSYS_AUTOMATION"):
        from_environment(ScheduleSettings, {"RECSYS_AUTOMATION": "off"})


def test_sweep_spares_unfinished_runs_and_dry_run_deletes_nothing(local_resources):
    client = local_resources["personalize"].get_client()
    finished, going = "aaaaaaaa-0000-0000-0000-000000000000", "bbbbbbbb-0000-0000-0000-000000000000"
    groups = {}
    for run_id in (finished, going):
        names = RunNames("recsys", run_id)
        groups[run_id] = client.create_dataset_group(name=names.dataset_group, tags=names.tags)["datasetGroupArn"]
    foreign = client.create_dataset_group(name="not-ours")["datasetGroupArn"]
    resources = {k: local_resources[k] for k in ("personalize", "guardrails", "object_store")}
    resources["guardrails"] = with_fields(resources["guardrails"], orphan_max_age_hours=0.0)
    with dg.instance_for_test() as instance:
        instance.add_run(dg.DagsterRun(job_name="daily_recs_job", run_id=going, status=dg.DagsterRunStatus.STARTED))
        dry = cleanup_job.execute_in_process(run_config=cleanup_run_config(sweep=True, dry_run=True),
                                             instance=instance, resources=resources)
        assert dry.output_for_node("teardown_personalize_resources")["would_delete"] == [groups[finished]]
        assert len(client.list_dataset_groups()["datasetGroups"]) == 3
        swept = cleanup_job.execute_in_process(run_config=cleanup_run_config(sweep=True), instance=instance,
                                               resources=resources)
    assert swept.output_for_node("teardown_personalize_resources")["deleted"] == [groups[finished]]
    left = {g["datasetGroupArn"] for g in client.list_dataset_groups()["datasetGroups"]}
    assert left == {groups[going], foreign}


def test_the_default_config_sweeps_this_deployment(local_resources):
    """The Launchpad's default config (no run_id) is the orphan sweep's: what finished runs left, at once."""
    client = local_resources["personalize"].get_client()
    finished, going = "aaaaaaaa-0000-0000-0000-000000000000", "bbbbbbbb-0000-0000-0000-000000000000"
    groups = {run_id: client.create_dataset_group(name=RunNames("recsys", run_id).dataset_group,
                                                  tags=RunNames("recsys", run_id).tags)["datasetGroupArn"]
              for run_id in (finished, going)}
    with dg.instance_for_test() as instance:
        instance.add_run(dg.DagsterRun(job_name="daily_recs_job", run_id=finished, status=dg.DagsterRunStatus.SUCCESS))
        instance.add_run(dg.DagsterRun(job_name="daily_recs_job", run_id=going, status=dg.DagsterRunStatus.STARTED))
        result = cleanup_job.execute_in_process(instance=instance,
                                                resources={k: local_resources[k] for k in _FIELDS})
    assert result.success and _op_metadata(result)["mode"] == "sweep"
    assert result.output_for_node("teardown_personalize_resources")["deleted"] == [groups[finished]]
    assert {g["datasetGroupArn"] for g in rt.DATASET_GROUP.list(client)} == {groups[going]}


_FIELDS = ("personalize", "guardrails", "object_store")
USERS_SCHEMA = json.dumps(json.loads(Path("schemas/users.json").read_text()))


def _op_metadata(result) -> dict:
    [output] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT]
    return {k: getattr(v, "value", v) for k, v in output.event_specific_data.metadata.items()}


def test_sweep_takes_what_finished_runs_left_at_once(local_resources):
    """Under the default 24 h cut-off: a run this instance saw finish leaves nothing past the next sweep, while
    a finished root with a re-execution still going, a run about to be retried and a run unknown here wait."""
    client = local_resources["personalize"].get_client()
    object_store = local_resources["object_store"]
    store = object_store.get_store()
    runs = {label: f"{digit * 8}-0000-0000-0000-000000000000" for label, digit in
            (("finished", "a"), ("rerun_root", "b"), ("retrying", "c"), ("unknown", "d"))}
    groups, schemas, files = {}, {}, {}
    for label, run_id in runs.items():
        names = RunNames("recsys", run_id)
        groups[label] = client.create_dataset_group(name=names.dataset_group, tags=names.tags)["datasetGroupArn"]
        schemas[label] = client.create_schema(name=names.schema("users"), schema=USERS_SCHEMA)["schemaArn"]
        files[label] = object_store.uri(run_id, "users.csv")
        store.write_bytes(files[label], b"USER_ID\n1\n")
    resources = {k: local_resources[k] for k in _FIELDS}
    with dg.instance_for_test() as instance:
        def add(run_id, status, **fields):
            instance.add_run(dg.DagsterRun(job_name="daily_recs_job", run_id=run_id, status=status, **fields))

        add(runs["finished"], dg.DagsterRunStatus.SUCCESS)
        add(runs["rerun_root"], dg.DagsterRunStatus.FAILURE)
        add("eeeeeeee-0000-0000-0000-000000000000", dg.DagsterRunStatus.STARTED, root_run_id=runs["rerun_root"],
            parent_run_id=runs["rerun_root"])
        add(runs["retrying"], dg.DagsterRunStatus.FAILURE, tags={"dagster/will_retry": "true"})
        swept = cleanup_job.execute_in_process(run_config=cleanup_run_config(sweep=True), instance=instance,
                                               resources=resources)
    assert swept.output_for_node("teardown_personalize_resources")["deleted"] == [groups["finished"],
                                                                                  schemas["finished"]]
    waiting = ("rerun_root", "retrying", "unknown")
    assert {g["datasetGroupArn"] for g in rt.DATASET_GROUP.list(client)} == {groups[label] for label in waiting}
    assert {s["schemaArn"] for s in rt.SCHEMA.list(client)} == {schemas[label] for label in waiting}
    assert [label for label, uri in files.items() if store.exists(uri)] == list(waiting)


def test_run_files_go_at_the_runs_end_not_at_batch_output(local_resources):
    object_store = local_resources["object_store"]
    store = object_store.get_store()
    resources = {k: local_resources[k] for k in _FIELDS}
    with dg.instance_for_test() as instance:
        result = _run(instance, fake_batch_output)
        mine = [object_store.uri(result.run_id, "users.csv"),
                object_store.uri(result.run_id, "batch-output", "users.json.out")]
        neighbour = object_store.uri(f"{result.run_id}0", "users.csv")  # shares the run's key prefix
        for uri in [*mine, neighbour]:
            store.write_bytes(uri, b"USER_ID,EMAIL\n1,a@example.com\n")
        with dg.build_sensor_context(instance=instance, sensor_name=cleanup_after_batch_output.name) as context:
            [early] = cleanup_after_batch_output.evaluate_tick(context).run_requests
        end = cleanup_after_success(_status_context(cleanup_after_success, instance, result))
        cleanup_job.execute_in_process(run_config=early.run_config, instance=instance, resources=resources)
        assert all(store.exists(uri) for uri in mine)
        dry = cleanup_job.execute_in_process(run_config=cleanup_run_config(result.run_id, dry_run=True),
                                             instance=instance, resources=resources)
        assert _op_metadata(dry)["files_would_delete"] == 2 and all(store.exists(uri) for uri in mine)
        done = cleanup_job.execute_in_process(run_config=end.run_config, instance=instance, resources=resources)
    assert _op_metadata(done)["files_deleted"] == 2
    assert not any(store.exists(uri) for uri in mine) and store.exists(neighbour)
    assert not store.path(object_store.run_folder(result.run_id)).exists()  # the folder went too


def test_a_dry_run_says_would_delete_never_deleted(local_resources):
    """In its logs, its output and its metadata: a dry run deletes nothing, and must not read as if it had."""
    client = local_resources["personalize"].get_client()
    names = RunNames("recsys", "d0d0d0d0-0000-0000-0000-000000000000")
    group = client.create_dataset_group(name=names.dataset_group, tags=names.tags)["datasetGroupArn"]
    schema = client.create_schema(name=names.schema("users"), schema=USERS_SCHEMA)["schemaArn"]
    client.create_dataset(name=names.dataset("users"), schemaArn=schema, datasetGroupArn=group,
                          datasetType="USERS", tags=names.tags)
    object_store = local_resources["object_store"]
    object_store.get_store().write_bytes(object_store.uri(names.run_id, "users.csv"), b"USER_ID\n1\n")
    with dg.instance_for_test() as instance:
        dry = cleanup_job.execute_in_process(run_config=cleanup_run_config(names.run_id, dry_run=True),
                                             instance=instance, resources={k: local_resources[k] for k in _FIELDS})
        logs = [entry.user_message for entry in instance.all_logs(dry.run_id)]
    metadata = _op_metadata(dry)
    said = [*logs, *metadata, *metadata["report"], *dry.output_for_node("teardown_personalize_resources")]
    assert sum(line.startswith("would delete ") for line in logs) == 4  # the dataset, group and schema; the files
    assert metadata["would_delete"] == 3 and metadata["files_would_delete"] == 1
    assert not [line for line in said if "deleted" in line]
    assert len(rt.DATASET_GROUP.list(client)) == 1 and object_store.get_store().list(object_store.run_folder(names.run_id))


def test_keep_run_files_keeps_them(local_resources):
    resources = {k: local_resources[k] for k in _FIELDS}
    resources["object_store"] = with_fields(resources["object_store"], keep_run_files=True)
    store = resources["object_store"].get_store()
    uri = resources["object_store"].uri("0123abcd-0000-0000-0000-000000000000", "users.csv")
    store.write_bytes(uri, b"USER_ID\n1\n")
    result = cleanup_job.execute_in_process(run_config=cleanup_run_config("0123abcd-0000-0000-0000-000000000000"),
                                            resources=resources)
    assert result.success and store.exists(uri) and _op_metadata(result)["files_deleted"] == 0


def test_failed_cleanup_is_retried_then_fails_saying_what_is_left(local_resources, monkeypatch):
    policy = teardown_personalize_resources.retry_policy
    assert policy.max_retries >= 2 and policy.backoff == dg.Backoff.EXPONENTIAL
    client = local_resources["personalize"].get_client()
    names = RunNames("recsys", "f00df00d-0000-0000-0000-000000000000")
    group = client.create_dataset_group(name=names.dataset_group, tags=names.tags)["datasetGroupArn"]
    schema = client.create_schema(name=names.schema("users"), schema=USERS_SCHEMA)["schemaArn"]
    dataset = client.create_dataset(name=names.dataset("users"), schemaArn=schema, datasetGroupArn=group,
                                    datasetType="USERS", tags=names.tags)["datasetArn"]
    refuse_deletes(monkeypatch, rt.DATASET)

    @dg.job
    def cleanup_with_quick_retries():  # the real policy waits minutes between attempts
        teardown_personalize_resources.with_retry_policy(dg.RetryPolicy(max_retries=1))()

    result = cleanup_with_quick_retries.execute_in_process(run_config=cleanup_run_config(names.run_id),
                                                           resources={k: local_resources[k] for k in _FIELDS},
                                                           raise_on_error=False)
    assert not result.success
    assert len([e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]) == 1
    description = result.failure_data_for_node("teardown_personalize_resources").user_failure_data.description
    assert "attempt 2 of 2" in description
    for kind, arn in (("dataset", dataset), ("dataset-group", group), ("schema", schema)):
        assert f"\n{kind} (1):\n  {arn}: " in description
    assert "(InvalidInputException)" in description and "not attempted: " in description
