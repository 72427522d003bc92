"""Resources behind one interface each, with a local and a cloud implementation.

``build_resources`` is the one place where the backend (``RECSYS_BACKEND``: local, the default, or aws)
is chosen; every other setting is declared on the field it sets (``environment``).
"""

from __future__ import annotations

import os
from typing import Mapping

import boto3
from botocore.exceptions import ProfileNotFound
from dagster_aws.s3 import S3Resource

from recsys_assets.resources.app_db import AppDatabaseResource
from recsys_assets.resources.environment import Region, SettingsError, from_environment, setting
from recsys_assets.resources.guardrails import GuardrailsResource
from recsys_assets.resources.object_store import (
    LocalObjectStoreResource,
    ObjectStoreResource,
    S3ObjectStoreResource,
)
from recsys_assets.resources.personalize import AwsPersonalizeResource, LocalPersonalizeResource, PersonalizeResource
from recsys_assets.resources.run_outputs import RUN_OUTPUTS, run_outputs_io_manager

__all__ = [
    "AppDatabaseResource",
    "AwsPersonalizeResource",
    "GuardrailsResource",
    "LocalObjectStoreResource",
    "LocalPersonalizeResource",
    "ObjectStoreResource",
    "PersonalizeResource",
    "RUN_OUTPUTS",
    "run_outputs_io_manager",
    "S3ObjectStoreResource",
    "SettingsError",
    "build_resources",
]

BACKEND_ENV = "RECSYS_BACKEND"
BACKENDS = ("local", "aws")


def aws_region(environ: Mapping[str, str]) -> str:
    """The region variables, else the AWS profile's region (AWS_PROFILE, ~/.aws/config), as boto3 reads them."""
    region = setting(Region, environ, default=None)
    if region is None:
        try:
            region = boto3.session.Session(profile_name=environ.get("AWS_PROFILE") or None).region_name
        except ProfileNotFound as e:
            raise SettingsError(f"AWS_PROFILE: {e}") from None
    if not region:
        raise SettingsError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, RECSYS_AWS_REGION), or a region "
                            "in your AWS profile")
    return region


def build_resources(environ: Mapping[str, str] | None = None, *, runs_per_month: float | None = None) -> dict:
    """The resources of the backend the environment selects; ``runs_per_month`` is the daily schedule's
    cadence, for the cost projection."""
    environ = os.environ if environ is None else environ
    backend = environ.get(BACKEND_ENV, "local").strip().lower() or "local"
    if backend not in BACKENDS:
        raise SettingsError(f"{BACKEND_ENV} must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "local":
        object_store = from_environment(LocalObjectStoreResource, environ)
        personalize = from_environment(LocalPersonalizeResource, environ, object_store=object_store)
    else:
        region = aws_region(environ)
        s3 = S3Resource(region_name=region)
        object_store = from_environment(S3ObjectStoreResource, environ, s3=s3)
        personalize = from_environment(AwsPersonalizeResource, environ, object_store=object_store, region_name=region)
    return {
        "app_db": from_environment(AppDatabaseResource, environ),
        "object_store": object_store,
        "personalize": personalize,
        "guardrails": from_environment(GuardrailsResource, environ,
                                       **({} if runs_per_month is None else {"runs_per_month": runs_per_month})),
        RUN_OUTPUTS: run_outputs_io_manager,
    }
