"""Where the pipeline's files live: a local directory standing in for S3, or S3 itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import dagster as dg
from dagster_aws.s3 import S3Resource

from recsys_assets.resources.environment import LocalRoot, env
from recsys_assets.storage import LocalObjectStore, ObjectStore, S3ObjectStore, join_uri

Bucket = Annotated[str, env("RECSYS_S3_BUCKET", description="Bucket of the CSVs and batch files (on AWS: in "
                                                            "Personalize's region)")]


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
    """s3://bucket/key is the file <local_root>/s3/bucket/key."""

    bucket: Bucket = "recsys-local"
    local_root: LocalRoot

    def get_store(self) -> ObjectStore:
        return LocalObjectStore(Path(self.local_root, "s3"))


class S3ObjectStoreResource(ObjectStoreResource):
    """Real S3 through dagster-aws (its endpoint_url points it at MinIO, LocalStack or moto)."""

    s3: S3Resource

    def get_store(self) -> ObjectStore:
        return S3ObjectStore(self.s3.get_client(), region_name=self.s3.region_name, endpoint_url=self.s3.endpoint_url)
