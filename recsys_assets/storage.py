"""Object storage addressed by ``s3://bucket/key`` URIs: a local directory or real S3.

The pipeline and the local engine share these classes, so CSVs, batch input and batch output are
read and written the same way in both backends. ``config()`` returns a plain dict from which
``from_config`` rebuilds the store in another process (the engine's workers); it never holds
credentials, which S3 clients take from the environment.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO, Iterator, TextIO

S3_SCHEME = "s3://"


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``."""
    if not uri.startswith(S3_SCHEME):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"s3 URI without a bucket: {uri!r}")
    return bucket, key


def join_uri(bucket: str, key: str) -> str:
    return f"{S3_SCHEME}{bucket}/{key}"


def _folder(prefix_uri: str) -> tuple[str, str]:
    """A prefix that names a folder inside a bucket: ``run-1/`` never also takes ``run-10/``, nor the bucket."""
    bucket, prefix = split_uri(prefix_uri)
    if not prefix.endswith("/") or not prefix.strip("/"):
        raise ValueError(f"not a folder inside a bucket (a key prefix ending in '/'): {prefix_uri!r}")
    return bucket, prefix


class ObjectStore(ABC):
    @abstractmethod
    def open_read(self, uri: str) -> BinaryIO:
        """Open an object for reading; FileNotFoundError if it does not exist."""

    @abstractmethod
    def open_write(self, uri: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A binary writer; the object appears whole when the block exits without error."""

    @abstractmethod
    def list(self, prefix_uri: str) -> list[str]:
        """URIs of all objects whose URI starts with ``prefix_uri`` (S3 prefix semantics), sorted."""

    @abstractmethod
    def delete(self, uri: str) -> None:
        """Delete an object; no error if it is absent."""

    @abstractmethod
    def delete_prefix(self, prefix_uri: str) -> list[str]:
        """Delete every object under the folder ``prefix_uri`` (it ends with '/'); the URIs that were there."""

    @abstractmethod
    def config(self) -> dict:
        """Plain, credential-free settings from which ``from_config`` rebuilds this store."""

    @abstractmethod
    def size(self, uri: str) -> int:
        """Bytes in an object; FileNotFoundError if it does not exist."""

    def exists(self, uri: str) -> bool:
        return uri in self.list(uri)

    def read_bytes(self, uri: str) -> bytes:
        with self.open_read(uri) as f:
            return f.read()

    def write_bytes(self, uri: str, data: bytes) -> None:
        with self.open_write(uri) as f:
            f.write(data)

    @contextlib.contextmanager
    def open_text_write(self, uri: str) -> Iterator[TextIO]:
        """UTF-8 text writer with no newline translation (CSV and JSON Lines control their own)."""
        with self.open_write(uri) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            yield text
            text.flush()
            text.detach()  # the binary object is closed by open_write, which then publishes it

    def open_text_read(self, uri: str) -> TextIO:
        return io.TextIOWrapper(self.open_read(uri), encoding="utf-8", newline="")


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


class LocalObjectStore(ObjectStore):
    """``s3://bucket/key`` <-> ``<root>/bucket/key``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, uri: str) -> Path:
        bucket, key = split_uri(uri)
        bucket_dir = self.root.resolve() / bucket
        path = (bucket_dir / key).resolve()
        # A key must stay inside its bucket: "s3://b/../c/k" would alias another bucket (or the root).
        if bucket in (".", "..") or not path.is_relative_to(bucket_dir):
            raise ValueError(f"s3 URI escapes its bucket in the local object store: {uri!r}")
        return path

    def open_read(self, uri: str) -> BinaryIO:
        path = self.path(uri)
        if not path.is_file():
            raise FileNotFoundError(f"no object at {uri} (looked in {path})")
        return open(path, "rb")

    @contextlib.contextmanager
    def open_write(self, uri: str) -> Iterator[BinaryIO]:
        path = self.path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so readers never see half an object.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
            os.chmod(tmp, _FILE_MODE)  # mkstemp's 0600 would hide objects from other users
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def list(self, prefix_uri: str) -> list[str]:
        bucket, prefix = split_uri(prefix_uri)
        bucket_dir = self.path(join_uri(bucket, ""))
        if not bucket_dir.is_dir():
            return []
        # Only walk the directory the prefix points into; the prefix may end mid-name.
        # self.path refuses a prefix whose folder lies outside the bucket.
        start = self.path(join_uri(bucket, prefix.rpartition("/")[0]))
        if not start.is_dir():
            return []
        found = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith(".part-"):
                    continue
                key = Path(dirpath, name).relative_to(bucket_dir).as_posix()
                if key.startswith(prefix):
                    found.append(join_uri(bucket, key))
        return sorted(found)

    def size(self, uri: str) -> int:
        path = self.path(uri)
        if not path.is_file():
            raise FileNotFoundError(f"no object at {uri}")
        return path.stat().st_size

    def delete(self, uri: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(uri).unlink()

    def delete_prefix(self, prefix_uri: str) -> list[str]:
        bucket, prefix = _folder(prefix_uri)
        found = self.list(prefix_uri)
        # The folder goes whole: its objects, any half-written ones and the emptied directories.
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.path(join_uri(bucket, prefix)))
        return found

    def config(self) -> dict:
        return {"kind": "local", "root": str(self.root.resolve())}


class S3ObjectStore(ObjectStore):
    """Real S3 (or anything speaking its API: moto, MinIO, LocalStack via ``endpoint_url``)."""

    def __init__(self, client=None, *, region_name: str | None = None, endpoint_url: str | None = None):
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        if client is None:
            import boto3

            client = boto3.session.Session().client("s3", region_name=region_name, endpoint_url=endpoint_url)
        self.client = client

    def open_read(self, uri: str) -> BinaryIO:
        bucket, key = split_uri(uri)
        # Spool to a temp file so callers get a seekable file and memory stays flat.
        spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
        try:
            self.client.download_fileobj(bucket, key, spool)
        except self.client.exceptions.ClientError as e:
            spool.close()
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(f"no object at {uri}") from e
            raise
        spool.seek(0)
        return spool  # type: ignore[return-value]

    @contextlib.contextmanager
    def open_write(self, uri: str) -> Iterator[BinaryIO]:
        bucket, key = split_uri(uri)
        with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
            yield spool  # type: ignore[misc]
            spool.seek(0)
            # upload_fileobj switches to a multipart upload for large objects.
            self.client.upload_fileobj(spool, bucket, key)

    def list(self, prefix_uri: str) -> list[str]:
        bucket, prefix = split_uri(prefix_uri)
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.extend(join_uri(bucket, obj["Key"]) for obj in page.get("Contents", []))
        return sorted(found)

    def size(self, uri: str) -> int:
        bucket, key = split_uri(uri)
        try:
            return self.client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except self.client.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(f"no object at {uri}") from e
            raise

    def delete(self, uri: str) -> None:
        bucket, key = split_uri(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def delete_prefix(self, prefix_uri: str) -> list[str]:
        bucket, _ = _folder(prefix_uri)
        found = self.list(prefix_uri)
        # DeleteObjects takes up to 1,000 keys a request and reports the keys it could not delete in
        # Errors, not as an exception (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html).
        for start in range(0, len(found), 1000):
            keys = [{"Key": split_uri(uri)[1]} for uri in found[start:start + 1000]]
            errors = self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True}).get("Errors")
            if errors:
                raise OSError(f"S3 did not delete {len(errors)} objects under {prefix_uri}: "
                              f"{errors[0].get('Key')}: {errors[0].get('Code')} {errors[0].get('Message')}")
        return found

    def config(self) -> dict:
        return {"kind": "s3", "region_name": self.region_name, "endpoint_url": self.endpoint_url}


def from_config(config: dict) -> ObjectStore:
    kind = config.get("kind")
    if kind == "local":
        return LocalObjectStore(config["root"])
    if kind == "s3":
        return S3ObjectStore(region_name=config.get("region_name"), endpoint_url=config.get("endpoint_url"))
    raise ValueError(f"unknown object store kind {kind!r}")
