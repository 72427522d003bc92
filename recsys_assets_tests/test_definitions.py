"""The code location loads, and the backend is chosen from the environment in one place."""

import dagster as dg
import pytest

from recsys_assets.definitions import defs
from recsys_assets.resources import (
    LocalObjectStoreResource,
    PersonalizeResource,
    S3ObjectStoreResource,
    build_resources,
    load_settings,
)

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


def test_jobs_schedules_sensors_and_checks_are_wired():
    assert defs.resolve_job_def("daily_recs_job") and defs.resolve_job_def("cleanup_job")
    schedule = defs.resolve_schedule_def("daily_recs_schedule")
    assert schedule.job_name == "daily_recs_job" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_schedule_def("orphan_sweep_schedule").job_name == "cleanup_job"
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert "solution_version_quality" in checks
    for name in ("cleanup_after_batch_output", "cleanup_after_success", "cleanup_after_failure"):
        sensor = defs.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.job_name == "cleanup_job"


def test_local_backend_is_the_default():
    settings = load_settings({})
    resources = build_resources(settings)
    assert settings.backend == "local" and settings.local_root == ".recsys"
    assert settings.database_url.endswith("/.recsys/demo.db")
    assert isinstance(resources["object_store"], LocalObjectStoreResource)
    assert resources["personalize"].backend == "local"


def test_aws_backend_uses_s3_and_needs_bucket_and_role():
    with pytest.raises(ValueError, match="RECSYS_S3_BUCKET and RECSYS_PERSONALIZE_ROLE_ARN"):
        load_settings({"RECSYS_BACKEND": "aws"})
    settings = load_settings({"RECSYS_BACKEND": "aws", "RECSYS_S3_BUCKET": "shop-recs",
                              "RECSYS_PERSONALIZE_ROLE_ARN": "arn:aws:iam::123456789012:role/personalize",
                              "AWS_REGION": "eu-west-1"})
    resources = build_resources(settings)
    assert isinstance(resources["object_store"], S3ObjectStoreResource)
    personalize: PersonalizeResource = resources["personalize"]
    assert (personalize.backend, personalize.region_name, personalize.role_arn) == (
        "aws", "eu-west-1", "arn:aws:iam::123456789012:role/personalize")


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="RECSYS_BACKEND must be one of local, aws"):
        load_settings({"RECSYS_BACKEND": "gcp"})


def test_a_users_database_url_stays_out_of_resource_config():
    # The UI shows resource config; a URL with a password must appear as the env var's name only.
    settings = load_settings({"RECSYS_DATABASE_URL": "postgresql+psycopg://app:s3cret@db/shop"})
    url = build_resources(settings)["app_db"].url
    assert isinstance(url, dg.EnvVar) and url.env_var_name == "RECSYS_DATABASE_URL"


def test_local_root_and_schedule_come_from_the_environment():
    settings = load_settings({"RECSYS_LOCAL_ROOT": "/data/recsys", "RECSYS_SCHEDULE_CRON": "30 5 * * *",
                              "RECSYS_SCHEDULE_TIMEZONE": "Europe/Berlin"})
    assert settings.database_url == "sqlite:////data/recsys/demo.db"
    assert (settings.schedule_cron, settings.schedule_timezone) == ("30 5 * * *", "Europe/Berlin")


def test_guardrails_come_from_the_environment():
    settings = load_settings({"RECSYS_BUDGET_USD_PER_RUN": "2.5", "RECSYS_MAX_TRAINING_HOURS": "3",
                              "RECSYS_QUALITY_MINIMUMS": "precision_at_10=0.02", "RECSYS_PRICE_PER_TRAINING_HOUR": "0.3"})
    guardrails = build_resources(settings)["guardrails"]
    assert (guardrails.budget_usd_per_run, guardrails.max_training_hours) == (2.5, 3.0)
    assert guardrails.quality_minimums == {"precision_at_10": 0.02}
    assert guardrails.prices.per_training_hour == 0.3
    with pytest.raises(ValueError, match="RECSYS_BUDGET_USD_PER_RUN must be a number"):
        load_settings({"RECSYS_BUDGET_USD_PER_RUN": "lots"})
    with pytest.raises(ValueError, match="expected metric=number"):
        load_settings({"RECSYS_QUALITY_MINIMUMS": "precision_at_10"})
