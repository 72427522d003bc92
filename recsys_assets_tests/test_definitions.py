"""The code location loads, and the backend is chosen from the environment in one place."""

import os
import re
from pathlib import Path

import dagster as dg
import pytest

from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS
from recsys_assets.automation import ScheduleSettings, runs_per_month
from recsys_assets.definitions import defs
from recsys_assets.resources import (
    AppDatabaseResource,
    AwsPersonalizeResource,
    GuardrailsResource,
    LocalObjectStoreResource,
    LocalPersonalizeResource,
    S3ObjectStoreResource,
    SettingsError,
    build_resources,
)
from recsys_assets.resources.environment import from_environment, variables_of

ASSETS = ["users_csv", "items_csv", "interactions_csv", "dataset_group", "solution_version", "batch_output",
          "recommendations_table"]


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_seven_assets_in_one_graph():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == set(ASSETS)
    upstream = {k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys} for k in ASSETS}
    assert upstream["dataset_group"] == {"users_csv", "items_csv", "interactions_csv"}
    assert upstream["solution_version"] == {"dataset_group"}
    assert upstream["batch_output"] == {"solution_version"}
    assert upstream["recommendations_table"] == {"batch_output"}


def test_personalize_steps_share_one_pool_and_the_daily_job_is_one_run_per_deployment():
    graph = defs.resolve_asset_graph()
    pools = {k: graph.get(dg.AssetKey(k)).pools for k in ASSETS}
    assert all(pools[k] == {"personalize"} for k in ("dataset_group", "solution_version", "batch_output"))
    assert not pools["users_csv"] and not pools["recommendations_table"]
    assert defs.resolve_job_def("daily_recs_job").tags["recsys/deployment"] == "recsys"


def test_jobs_schedules_sensors_and_checks_are_wired():
    assert defs.resolve_job_def("daily_recs_job") and defs.resolve_job_def("cleanup_job")
    schedule = defs.resolve_schedule_def("daily_recs_schedule")
    assert schedule.job_name == "daily_recs_job" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_schedule_def("orphan_sweep_schedule").job_name == "cleanup_job"
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert "solution_version_quality" in checks
    for name in ("cleanup_after_batch_output", "cleanup_after_success", "cleanup_after_failure", "cleanup_after_cancel"):
        sensor = defs.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.job_name == "cleanup_job"


def test_local_backend_is_the_default():
    resources = build_resources({})
    assert isinstance(resources["object_store"], LocalObjectStoreResource)
    assert isinstance(resources["personalize"], LocalPersonalizeResource)
    assert resources["personalize"].local_root == ".recsys"
    assert resources["app_db"].database_url.endswith("/.recsys/demo.db")
    assert resources["run_outputs"].required_resource_keys == {"object_store"}  # the same store, not a copy


def test_aws_backend_uses_s3_and_needs_bucket_and_role():
    with pytest.raises(SettingsError, match="RECSYS_S3_BUCKET must be set"):
        build_resources({"RECSYS_BACKEND": "aws", "RECSYS_PERSONALIZE_ROLE_ARN": "arn:aws:iam::123456789012:role/p",
                         "AWS_REGION": "eu-west-1"})
    with pytest.raises(SettingsError, match="RECSYS_PERSONALIZE_ROLE_ARN must be set"):
        build_resources({"RECSYS_BACKEND": "aws", "RECSYS_S3_BUCKET": "shop-recs", "AWS_REGION": "eu-west-1"})
    resources = build_resources({"RECSYS_BACKEND": "aws", "RECSYS_S3_BUCKET": "shop-recs",
                                 "RECSYS_PERSONALIZE_ROLE_ARN": "arn:aws:iam::123456789012:role/personalize",
                                 "AWS_REGION": "eu-west-1"})
    assert isinstance(resources["object_store"], S3ObjectStoreResource)
    assert resources["object_store"].s3.region_name == "eu-west-1"
    personalize = resources["personalize"]
    assert isinstance(personalize, AwsPersonalizeResource)
    assert (personalize.region_name, personalize.role_arn) == ("eu-west-1", "arn:aws:iam::123456789012:role/personalize")


AWS_SETTINGS = {"RECSYS_BACKEND": "aws", "RECSYS_S3_BUCKET": "shop-recs",
                "RECSYS_PERSONALIZE_ROLE_ARN": "arn:aws:iam::123456789012:role/personalize"}


@pytest.fixture
def aws_config(tmp_path, monkeypatch):
    """An AWS config file of our own, so the machine's ~/.aws and region variables play no part."""
    path = tmp_path / "config"
    path.write_text("[profile shop]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(variable, raising=False)
    return path


def test_aws_region_comes_from_the_variables_then_the_profile(aws_config, monkeypatch):
    resources = build_resources({**AWS_SETTINGS, "AWS_DEFAULT_REGION": "eu-central-1"})
    assert resources["personalize"].region_name == resources["object_store"].s3.region_name == "eu-central-1"
    resources = build_resources({**AWS_SETTINGS, "AWS_PROFILE": "shop"})
    assert resources["personalize"].region_name == resources["object_store"].s3.region_name == "ap-southeast-2"
    with pytest.raises(SettingsError, match="no AWS region: set AWS_REGION"):
        build_resources(AWS_SETTINGS)
    with pytest.raises(SettingsError, match="AWS_PROFILE: .*nosuch"):
        build_resources({**AWS_SETTINGS, "AWS_PROFILE": "nosuch"})


def test_unknown_backend_is_refused():
    with pytest.raises(SettingsError, match="RECSYS_BACKEND must be one of local, aws"):
        build_resources({"RECSYS_BACKEND": "gcp"})


def test_a_users_database_url_stays_out_of_resource_config():
    # The UI shows resource config; a URL with a password must appear as the env var's name only.
    url = build_resources({"RECSYS_DATABASE_URL": "postgresql+psycopg://app:s3cret@db/shop"})["app_db"].url
    assert isinstance(url, dg.EnvVar) and url.env_var_name == "RECSYS_DATABASE_URL"


def test_local_root_and_schedule_come_from_the_environment():
    resources = build_resources({"RECSYS_LOCAL_ROOT": "/data/recsys"})
    assert resources["app_db"].database_url == "sqlite:////data/recsys/demo.db"
    assert resources["object_store"].local_root == resources["personalize"].local_root == "/data/recsys"
    schedules = from_environment(ScheduleSettings, {"RECSYS_SCHEDULE_CRON": "30 5 * * *",
                                                    "RECSYS_SCHEDULE_TIMEZONE": "Europe/Berlin"})
    assert (schedules.cron, schedules.timezone) == ("30 5 * * *", "Europe/Berlin")


def test_guardrails_come_from_the_environment():
    guardrails = build_resources({"RECSYS_BUDGET_USD_PER_RUN": "2.5", "RECSYS_MAX_TRAINING_HOURS": "3",
                                  "RECSYS_QUALITY_MINIMUMS": "precision_at_10=0.02",
                                  "RECSYS_PRICE_PER_TRAINING_HOUR": "0.3"})["guardrails"]
    assert (guardrails.budget_usd_per_run, guardrails.max_training_hours) == (2.5, 3.0)
    assert guardrails.quality_minimums == {"precision_at_10": 0.02}
    assert guardrails.prices.per_training_hour == 0.3
    with pytest.raises(SettingsError, match="RECSYS_BUDGET_USD_PER_RUN: .*number.*'lots'"):
        build_resources({"RECSYS_BUDGET_USD_PER_RUN": "lots"})
    with pytest.raises(SettingsError, match="expected metric=number"):
        build_resources({"RECSYS_QUALITY_MINIMUMS": "precision_at_10"})


def test_every_setting_is_declared_once():
    # Each environment variable sets one field of one class (shared setting types aside), so no second
    # parser or default can drift from it.
    declared: dict[str, set[str]] = {}
    for model in (AppDatabaseResource, LocalObjectStoreResource, S3ObjectStoreResource, LocalPersonalizeResource,
                  AwsPersonalizeResource, GuardrailsResource, ScheduleSettings):
        for field, (variables, _secret) in variables_of(model).items():
            for variable in variables:
                declared.setdefault(variable, set()).add(field)
    assert all(len(fields) == 1 for fields in declared.values()), declared
    assert {"RECSYS_LOCAL_ROOT", "RECSYS_DATABASE_URL", "RECSYS_S3_BUCKET", "RECSYS_DEPLOYMENT",
            "RECSYS_SCHEDULE_CRON", "RECSYS_QUALITY_MINIMUMS"} <= set(declared)


@pytest.mark.parametrize(("cron", "expected"), [("0 3 * * *", 30.4), ("0 */6 * * *", 121.6), ("0 3 * * 1", 4.34)])
def test_runs_per_month_follow_the_schedule(cron, expected):
    assert runs_per_month(ScheduleSettings(cron=cron)) == pytest.approx(expected, rel=0.02)
    guardrails = build_resources({}, runs_per_month=runs_per_month(ScheduleSettings(cron=cron)))["guardrails"]
    assert guardrails.runs_per_month == pytest.approx(expected, rel=0.02)


def test_the_daily_jobs_maximum_runtime_lets_the_training_cap_act_first():
    from recsys_assets.definitions import defs, resources

    tags = defs.resolve_job_def("daily_recs_job").tags
    training_cap = resources["guardrails"].max_training_hours * 3600
    # the import and batch waits come on top of the training, each up to its own timeout
    assert int(tags["dagster/max_runtime"]) >= training_cap + 2 * resources["personalize"].timeout_seconds


def test_the_dev_instance_ends_untagged_runs_no_sooner_than_the_daily_job():
    """UI launches ("Materialize all") carry no dagster/max_runtime tag: the instance's default applies."""
    from recsys_assets.definitions import defs

    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    default = int(re.search(r"max_runtime_seconds: (\d+)", makefile).group(1))
    assert default >= int(defs.resolve_job_def("daily_recs_job").tags["dagster/max_runtime"])


def test_the_code_location_loads_every_job_without_a_warning(tmp_path):
    """A fresh interpreter with every warning an error: importing the definitions and resolving each job
    (what `dagster dev` and `dg check defs` do) warns about nothing, ours or a library's on our behalf."""
    import os
    import subprocess
    import sys

    load = ("import dagster as dg; from recsys_assets.definitions import defs; dg.Definitions.validate_loadable(defs); "
            "[defs.resolve_job_def(job.name) for job in defs.resolve_all_job_defs()]; print(len(defs.jobs))")
    done = subprocess.run([sys.executable, "-W", "error", "-c", load], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parents[1], env={**os.environ, "RECSYS_LOCAL_ROOT": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2" and not done.stderr


def test_every_resource_has_a_plain_text_description_in_the_ui():
    """The UI's Resources tab shows each resource's definition description (a ConfigurableResource's class
    docstring): a sentence or two of plain text, not reStructuredText."""
    shown = {key: resource.description for key, resource in defs.get_repository_def().get_top_level_resources().items()}
    assert set(shown) == {"app_db", "object_store", "personalize", "guardrails", "run_outputs"}
    for key, description in shown.items():
        assert description and description.strip(), key
        # no reStructuredText, and no <placeholder> that the UI's Markdown would take for HTML
        assert "``" not in description and ":class:" not in description and "<" not in description, (key, description)
    for backend in ({}, {"RECSYS_BACKEND": "aws", "RECSYS_S3_BUCKET": "b", "AWS_REGION": "eu-west-1",
                         "RECSYS_PERSONALIZE_ROLE_ARN": "arn:aws:iam::123456789012:role/p"}):
        for key, resource in build_resources(backend).items():
            assert dg.Definitions(resources={key: resource}).get_repository_def().get_top_level_resources()[
                key].description, (backend, key)



@pytest.mark.parametrize("url, expected", [
    ("postgresql+psycopg://app:s3cret@db:54x2/shop", "RECSYS_DATABASE_URL: the port is not a number"),
    ("app:s3cret at db", "RECSYS_DATABASE_URL is not a database URL"),
    ("postgress://app:s3cret@db/shop", "RECSYS_DATABASE_URL: SQLAlchemy has no database 'postgress'"),
    ("postgresql+psycopg2://app:s3cret@db/shop", "RECSYS_DATABASE_URL: the driver of 'postgresql+psycopg2' is not "
                                                 "installed (psycopg2)"),
])
def test_a_malformed_database_url_names_the_variable_not_the_password(url, expected, local_settings, monkeypatch):
    with pytest.raises(SettingsError) as caught:
        AppDatabaseResource(url=url, local_root=local_settings.local_root).get_db()
    assert str(caught.value).startswith(expected) and "s3cret" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained error shows the URL
    # In a run: the first step that reads the database fails with that message, and no event shows the password.
    monkeypatch.setenv("RECSYS_DATABASE_URL", url)
    with dg.instance_for_test() as instance:
        result = dg.materialize(ALL_ASSETS + ALL_CHECKS, resources=build_resources(dict(os.environ)),
                                instance=instance, raise_on_error=False, selection=["users_csv"])
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
        assert expected in failure.step_failure_data.error.cause.message
        logs = [e.message or "" for e in instance.all_logs(result.run_id)]
        logs += [str(e.dagster_event) for e in instance.all_logs(result.run_id)]
    assert logs and not any("s3cret" in line for line in logs)
