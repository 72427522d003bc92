"""Resources behind one interface each, with a local and a cloud implementation.

``build_resources`` is the one place where the backend is chosen.
"""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource

from recsys_assets.resources.app_db import AppDatabaseResource
from recsys_assets.resources.guardrails import GuardrailsResource
from recsys_assets.resources.object_store import (
    LocalObjectStoreResource,
    ObjectStoreResource,
    S3ObjectStoreResource,
)
from recsys_assets.resources.personalize import PersonalizeResource
from recsys_assets.resources.settings import Settings, load_settings

__all__ = [
    "AppDatabaseResource",
    "GuardrailsResource",
    "LocalObjectStoreResource",
    "ObjectStoreResource",
    "PersonalizeResource",
    "S3ObjectStoreResource",
    "Settings",
    "build_resources",
    "load_settings",
]


def build_resources(settings: Settings) -> dict:
    if settings.backend == "local":
        object_store = LocalObjectStoreResource(bucket=settings.bucket, prefix=settings.prefix,
                                                local_root=settings.local_root)
        personalize = PersonalizeResource(backend="local", deployment=settings.deployment, local_root=settings.local_root, role_arn=settings.role_arn,
                                          region_name=settings.region, object_store=object_store,
                                          poll_interval_seconds=0.5, poll_max_interval_seconds=2.0)
    else:
        object_store = S3ObjectStoreResource(bucket=settings.bucket, prefix=settings.prefix,
                                             s3=S3Resource(region_name=settings.region))
        personalize = PersonalizeResource(backend="aws", deployment=settings.deployment, role_arn=settings.role_arn, region_name=settings.region,
                                          object_store=object_store)
    # The UI shows resource config: a user's URL (which may hold a password) stays an EnvVar there.
    db_url = dg.EnvVar("RECSYS_DATABASE_URL") if settings.database_url != settings.demo_database_url else settings.database_url
    return {
        "app_db": AppDatabaseResource(url=db_url, mapping_file=settings.mapping_file),
        "object_store": object_store,
        "personalize": personalize,
        "guardrails": GuardrailsResource(
            price_per_gb_ingested=settings.price_per_gb_ingested,
            price_per_training_hour=settings.price_per_training_hour,
            price_per_1000_recommendations=settings.price_per_1000_recommendations,
            budget_usd_per_run=settings.budget_usd_per_run,
            expected_training_hours=settings.expected_training_hours,
            max_training_hours=settings.max_training_hours,
            quality_minimums=dict(settings.quality_minimums),
            quality_max_drop=settings.quality_max_drop,
            orphan_max_age_hours=settings.orphan_max_age_hours,
            schedule_cron=settings.schedule_cron,
            schedule_timezone=settings.schedule_timezone,
        ),
    }
