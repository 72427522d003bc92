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

from recsys_assets.engine import local_client
from recsys_assets.resources.environment import LocalRoot, Region, env
from recsys_assets.resources.object_store import ObjectStoreResource, S3ObjectStoreResource
from recsys_assets.workflow.polling import PollSettings
from recsys_assets.workflow.preflight import preflight_problems

RoleArn = Annotated[str, env("RECSYS_PERSONALIZE_ROLE_ARN",
                             description="The IAM role Personalize assumes to read and write the bucket")]
PollInterval = Annotated[float, Field(description="First pause between status polls, in seconds")]
PollMaxInterval = Annotated[float, Field(description="Longest pause between status polls (polls back off)")]
# Never billed, never sent anywhere: the local engine only checks that it is well formed.
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/recsys-local-engine"


class PersonalizeResource(dg.ConfigurableResource):
    """A Personalize client and how to wait for it; ``LocalPersonalizeResource`` or ``AwsPersonalizeResource``."""

    backend: ClassVar[str]
    deployment: str = env("RECSYS_DEPLOYMENT", default="recsys",
                          description="Prefix of every name this deployment gives Personalize resources; part of "
                                      "their ownership tags")
    role_arn: RoleArn
    region_name: Region
    poll_interval_seconds: PollInterval = 30.0
    poll_max_interval_seconds: PollMaxInterval = 300.0
    timeout_seconds: float = Field(6 * 3600.0, description="Longest wait for an import or batch job")
    # botocore's retry budget.
    max_attempts: int = 10
    # Where imports are read from and batch output is written.
    object_store: ObjectStoreResource

    def get_client(self):
        raise NotImplementedError

    def preflight(self) -> list[str]:
        """Problems that would make a paid call fail, one sentence each; none on the local backend."""
        return []

    @property
    def poll(self) -> PollSettings:
        return PollSettings(self.poll_interval_seconds, self.poll_max_interval_seconds, self.timeout_seconds)


class LocalPersonalizeResource(PersonalizeResource):
    """The local engine under <local_root>/engine: offline, free, the service's API and rules."""

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


class AwsPersonalizeResource(PersonalizeResource):
    """Amazon Personalize itself; credentials come from the usual boto3 chain."""

    backend: ClassVar[str] = "aws"
    endpoint_url: str | None = None
    profile_name: str | None = None

    def get_client(self):
        # The adaptive retry mode also rate-limits itself under throttling.
        return boto3.session.Session(profile_name=self.profile_name).client(
            "personalize", region_name=self.region_name, endpoint_url=self.endpoint_url,
            config=Config(retries={"mode": "adaptive", "max_attempts": self.max_attempts}),
        )

    def preflight(self) -> list[str]:
        if not isinstance(self.object_store, S3ObjectStoreResource):
            return ["the aws backend reads and writes S3: its object store must be an S3ObjectStoreResource"]
        return preflight_problems(self.object_store.s3.get_client(), bucket=self.object_store.bucket,
                                  region=self.region_name, role_arn=self.role_arn)
