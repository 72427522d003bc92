"""Amazon Personalize behind one interface: the local engine or the service, the same boto3 client.

Each implementation owns its client factory and its preflight (the checks before the first paid call).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

import boto3
import dagster as dg
from botocore.config import Config
from pydantic import Field

from recsys_assets.engine import local_client, solution_config_problem
from recsys_assets.personalize_rules.recipes import DOCUMENTED_HYPERPARAMETERS, recipe_name
from recsys_assets.resources.environment import LocalRoot, Region, env
from recsys_assets.resources.object_store import ObjectStoreConfig, S3ObjectStoreResource
from recsys_assets.workflow.polling import PollSettings
from recsys_assets.workflow.preflight import Preflight, run_preflight

RoleArn = Annotated[str, env("RECSYS_PERSONALIZE_ROLE_ARN",
                             description="The IAM role Personalize assumes to read and write the bucket")]
PollInterval = Annotated[float, Field(description="First pause between status polls, in seconds")]
PollMaxInterval = Annotated[float, Field(description="Longest pause between status polls (polls back off)")]
# Never billed, never sent anywhere: the local engine only checks that it is well formed.
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/recsys-local-engine"


class PersonalizeResource(dg.ConfigurableResource):
    """A Personalize client and how to wait for it: LocalPersonalizeResource or AwsPersonalizeResource."""

    backend: ClassVar[str]
    deployment: str = env("RECSYS_DEPLOYMENT", default="recsys",
                          description="Prefix of every name this deployment gives Personalize resources; part of "
                                      "their ownership tags")
    role_arn: RoleArn
    region_name: Region
    poll_interval_seconds: PollInterval = 30.0
    poll_max_interval_seconds: PollMaxInterval = 300.0
    # Training has its own cap (the guardrails' max_training_hours); these bound every other wait.
    timeout_seconds: float = Field(6 * 3600.0, description="Longest wait for an import or batch job (training: "
                                                           "RECSYS_MAX_TRAINING_HOURS)")
    resource_timeout_seconds: float = Field(1800.0, description="Longest wait for a dataset group, dataset, "
                                                                "solution or filter to turn ACTIVE, or to be deleted")
    kms_key_arn: str | None = env("RECSYS_KMS_KEY_ARN", default=None,
                                  description="KMS key that encrypts the dataset group and the batch files "
                                              "(optional; the role must be allowed to use it)")
    # botocore's retry budget.
    max_attempts: int = 10
    # Where imports are read from and batch output is written: part of this resource's config, not a nested
    # resource (see resources/object_store.py).
    object_store: ObjectStoreConfig

    def get_client(self):
        raise NotImplementedError

    def get_runtime_client(self):
        """A ``personalize-runtime`` client (GetRecommendations, GetPersonalizedRanking on a campaign)."""
        raise NotImplementedError

    def get_events_client(self):
        """A ``personalize-events`` client (PutEvents, PutUsers, PutItems)."""
        raise NotImplementedError

    def preflight(self) -> Preflight:
        """Problems that would make a paid call fail and what could not be verified; empty on the local backend."""
        return Preflight()

    def solution_config_problem(self, recipe_arn: str, solution_config: dict | None, *,
                                perform_hpo: bool) -> str | None:
        """Why this backend would refuse to train the recipe with these hyperparameters (None: it would not)."""
        raise NotImplementedError

    @property
    def metrics_protocol(self) -> str:
        """How this backend computes a solution version's metrics (which users and interactions it holds out):
        the quality gate compares only metrics of the same protocol."""
        raise NotImplementedError

    @property
    def poll(self) -> PollSettings:
        return PollSettings(self.poll_interval_seconds, self.poll_max_interval_seconds,
                            resource_timeout=self.resource_timeout_seconds, job_timeout=self.timeout_seconds)


class LocalPersonalizeResource(PersonalizeResource):
    """The local Personalize engine, offline and free, with the service's API and rules; its state is kept in
    the engine folder under the local root."""

    backend: ClassVar[str] = "local"
    role_arn: RoleArn = LOCAL_ROLE_ARN
    local_root: LocalRoot
    # How long each local lifecycle phase (PENDING, IN_PROGRESS, deleting) lasts, so polling is real.
    local_transition_seconds: float = 0.5
    poll_interval_seconds: PollInterval = 0.5
    poll_max_interval_seconds: PollMaxInterval = 2.0

    def get_client(self):
        return local_client(Path(self.local_root, "engine"), self.object_store.get_store().config(),
                            region=self.region_name, transition_seconds=self.local_transition_seconds,
                            max_attempts=self.max_attempts)

    def get_runtime_client(self):
        from recsys_assets.engine.transport import local_runtime_client

        return local_runtime_client(Path(self.local_root, "engine"), self.object_store.get_store().config(),
                                    region=self.region_name, max_attempts=self.max_attempts)

    def get_events_client(self):
        from recsys_assets.engine.transport import local_events_client

        return local_events_client(Path(self.local_root, "engine"), self.object_store.get_store().config(),
                                   region=self.region_name, max_attempts=self.max_attempts)

    @property
    def metrics_protocol(self) -> str:
        # The engine's own, versioned with its split (imported on first use: the trainers need numpy and scipy).
        from recsys_assets.engine.training import METRICS_PROTOCOL

        return METRICS_PROTOCOL

    def solution_config_problem(self, recipe_arn, solution_config, *, perform_hpo):
        # The engine's own hyperparameters (an extension) are valid here.
        return solution_config_problem(recipe_arn, solution_config, perform_hpo=perform_hpo)


class AwsPersonalizeResource(PersonalizeResource):
    """Amazon Personalize itself, with credentials from the usual boto3 chain."""

    backend: ClassVar[str] = "aws"
    endpoint_url: str | None = None
    profile_name: str | None = None

    def get_client(self):
        # "standard" is AWS's recommended mode (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html):
        # "adaptive" is experimental and only helps a client that is itself the source of throttling, which a
        # pipeline polling every 30 s or more is not.
        return self._client("personalize")

    def get_runtime_client(self):
        return self._client("personalize-runtime")

    def get_events_client(self):
        return self._client("personalize-events")

    def _client(self, service: str):
        return boto3.session.Session(profile_name=self.profile_name).client(
            service, region_name=self.region_name, endpoint_url=self.endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": self.max_attempts}),
        )

    @property
    def metrics_protocol(self) -> str:
        # The service's own split, which it does not version.
        return "aws"

    def solution_config_problem(self, recipe_arn, solution_config, *, perform_hpo):
        # The service knows only its documented hyperparameters; their ranges are the engine's, which pins
        # them to the documentation.
        documented = DOCUMENTED_HYPERPARAMETERS.get(recipe_name(recipe_arn) or "", ())
        return solution_config_problem(recipe_arn, solution_config, perform_hpo=perform_hpo, only=documented)

    def preflight(self) -> Preflight:
        if not isinstance(self.object_store, S3ObjectStoreResource):
            return Preflight(["the aws backend reads and writes S3: its object store must be an "
                              "S3ObjectStoreResource"])
        s3 = self.object_store.s3
        # IAM and KMS ask as the same identity as the S3 client (its profile and keys); not at its endpoint_url,
        # which is S3's (MinIO, LocalStack): IAM is global, KMS is Personalize's region.
        session = boto3.session.Session(profile_name=s3.profile_name or self.profile_name)
        keys = {"aws_access_key_id": s3.aws_access_key_id, "aws_secret_access_key": s3.aws_secret_access_key,
                "aws_session_token": s3.aws_session_token}
        return run_preflight(s3.get_client(), session.client("iam", **keys),
                             session.client("kms", region_name=self.region_name, **keys),
                             bucket=self.object_store.bucket, prefix=self.object_store.prefix,
                             region=self.region_name, role_arn=self.role_arn)
