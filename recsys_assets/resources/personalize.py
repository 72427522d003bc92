"""The Personalize client factory: the local engine or Amazon Personalize, same boto3 client."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import boto3
import dagster as dg
from botocore.config import Config

from recsys_assets.engine import local_client
from recsys_assets.resources.object_store import ObjectStoreResource
from recsys_assets.workflow.polling import PollSettings


class PersonalizeResource(dg.ConfigurableResource):
    backend: Literal["local", "aws"] = "local"
    # Prefix of every name this deployment gives Personalize resources; part of their ownership tags.
    deployment: str = "recsys"
    # Where the local engine keeps its state and models.
    local_root: str = ".recsys"
    # How long each local lifecycle phase (PENDING, IN_PROGRESS, deleting) lasts, so polling is real.
    local_transition_seconds: float = 0.5
    region_name: str = "us-east-1"
    # The IAM role Personalize assumes to read and write the bucket (aws backend).
    role_arn: str
    endpoint_url: str | None = None
    profile_name: str | None = None
    # botocore's retry budget; the aws backend uses the adaptive mode, which also rate-limits itself.
    max_attempts: int = 10
    poll_interval_seconds: float = 30.0
    poll_max_interval_seconds: float = 300.0
    timeout_seconds: float = 6 * 3600.0
    # The local engine reads imports and writes batch output through the pipeline's object store.
    object_store: ObjectStoreResource

    def get_client(self):
        if self.backend == "local":
            return local_client(
                Path(self.local_root, "engine"), self.object_store.get_store().config(),
                region=self.region_name, transition_seconds=self.local_transition_seconds,
                max_attempts=self.max_attempts,
            )
        return boto3.session.Session(profile_name=self.profile_name).client(
            "personalize", region_name=self.region_name, endpoint_url=self.endpoint_url,
            config=Config(retries={"mode": "adaptive", "max_attempts": self.max_attempts}),
        )

    @property
    def poll(self) -> PollSettings:
        return PollSettings(self.poll_interval_seconds, self.poll_max_interval_seconds, self.timeout_seconds)
