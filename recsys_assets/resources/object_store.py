"""Where the pipeline's files live: a local directory standing in for S3, or S3 itself.

No store holds another resource: Dagster 1.13 re-initializes a nested resource through its own deprecated
``InitResourceContext.dagster_run`` (a DeprecationWarning on every run). The S3 store carries dagster-aws's
S3 settings as its own fields instead, so a store is plain config that another resource can hold as config
(``PersonalizeResource.object_store``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_aws.s3.resources import ResourceWithS3Configuration
from pydantic import Field

from recsys_assets.resources.environment import LocalRoot, env
from recsys_assets.storage import LocalObjectStore, ObjectStore, S3ObjectStore, join_uri

Bucket = Annotated[str, env("RECSYS_S3_BUCKET", description="Bucket of the CSVs and batch files (on AWS: in "
                                                            "Personalize's region)")]
# The S3 client settings, as dagster-aws declares them.
S3_SETTINGS = tuple(ResourceWithS3Configuration.model_fields)


class ObjectStoreResource(dg.ConfigurableResource):
    """Objects addressed as s3://bucket/key in both implementations."""

    bucket: Bucket
    prefix: str = env("RECSYS_S3_PREFIX", default="recsys", description="Key prefix of every file a run writes")
    keep_run_files: bool = env("RECSYS_KEEP_RUN_FILES", default=False,
                               description="Keep each run's files (CSV exports of personal data, batch input and "
                                           "output) after the run; by default its cleanup deletes them")

    def get_store(self) -> ObjectStore:
        raise NotImplementedError

    def uri(self, *parts: str) -> str:
        return join_uri(self.bucket, "/".join([self.prefix.strip("/"), *parts]))

    def run_folder(self, run_id: str) -> str:
        """``s3://bucket/<prefix>/<run id>/``: the files of that run (and only of it), as ``uri`` places them."""
        return self.uri(run_id, "")


class LocalObjectStoreResource(ObjectStoreResource):
    """A local directory standing in for S3: s3://bucket/key is the file s3/bucket/key under the local root."""

    # Which implementation a store is, when another resource holds it as config (ObjectStoreConfig).
    kind: Literal["local"] = Field("local", description="Which object store this is")
    bucket: Bucket = "recsys-local"
    local_root: LocalRoot

    def get_store(self) -> ObjectStore:
        return LocalObjectStore(Path(self.local_root, "s3"))


class S3ObjectStoreResource(ObjectStoreResource, ResourceWithS3Configuration):
    """Amazon S3 through dagster-aws; its endpoint_url points it at MinIO, LocalStack or moto instead."""

    kind: Literal["s3"] = Field("s3", description="Which object store this is")

    def __init__(self, *, s3: S3Resource | None = None, **values):
        # `s3=S3Resource(...)` gives the client settings at once, unresolved (an EnvVar stays an EnvVar).
        given = {name: getattr(s3, name) for name in S3_SETTINGS} if s3 is not None else {}
        super().__init__(**given, **values)

    @property
    def s3(self) -> S3Resource:
        return S3Resource(**{name: getattr(self, name) for name in S3_SETTINGS})

    def get_store(self) -> ObjectStore:
        return S3ObjectStore(self.s3.get_client(), region_name=self.region_name, endpoint_url=self.endpoint_url)


# A store as another resource's config: Dagster rebuilds it from its values in every run (EnvVars resolved).
ObjectStoreConfig = Annotated[LocalObjectStoreResource | S3ObjectStoreResource, Field(discriminator="kind")]
