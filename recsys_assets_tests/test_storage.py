"""The s3:// object stores: a local directory and S3 (moto, in-process: no network) behave alike."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from recsys_assets import storage
from recsys_assets.storage import LocalObjectStore, S3ObjectStore, from_config, split_uri

BUCKET = "bucket"


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake credentials and no shared config, so nothing can reach a real account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


# One session for the tests' own clients: S3's service model is loaded once, not per test.
_SESSION = boto3.session.Session()


@pytest.fixture
def s3_store(aws_env):
    with mock_aws():
        client = _SESSION.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield S3ObjectStore(client, region_name="us-east-1")


@pytest.fixture
def local_store(tmp_path):
    return LocalObjectStore(tmp_path / "objects")


@pytest.fixture(params=["local", "s3"])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")


def uri(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


# ---- both backends ------------------------------------------------------------------------------


def test_round_trip_and_overwrite(store):
    store.write_bytes(uri("a/b.csv"), b"x,y\n1,2\n")
    assert store.read_bytes(uri("a/b.csv")) == b"x,y\n1,2\n"
    store.write_bytes(uri("a/b.csv"), b"replaced")
    assert store.read_bytes(uri("a/b.csv")) == b"replaced"
    assert store.exists(uri("a/b.csv"))
    assert not store.exists(uri("a/b"))  # a prefix of a key is not an object


def test_missing_object_is_file_not_found(store):
    with pytest.raises(FileNotFoundError):
        store.open_read(uri("nothing/here.csv"))
    with pytest.raises(FileNotFoundError):
        store.size(uri("nothing/here.csv"))


def test_size_in_bytes(store):
    store.write_bytes(uri("sized.csv"), "ä,b\n".encode())
    store.write_bytes(uri("empty.csv"), b"")
    assert store.size(uri("sized.csv")) == 5  # bytes, not characters
    assert store.size(uri("empty.csv")) == 0


def test_text_round_trip_keeps_line_endings_and_unicode(store):
    text = "USER_ID,NAME\r\nu1,\"Zoë, 東京\"\nu2,x\n"
    with store.open_text_write(uri("t.csv")) as f:
        f.write(text)
    assert store.read_bytes(uri("t.csv")) == text.encode("utf-8")  # UTF-8, no newline translation
    with store.open_text_read(uri("t.csv")) as f:
        assert f.read() == text


def test_failed_write_leaves_no_object(store):
    store.write_bytes(uri("keep.csv"), b"old")
    with pytest.raises(RuntimeError):
        with store.open_write(uri("keep.csv")) as f:
            f.write(b"half of a new vers")
            raise RuntimeError("producer crashed")
    with pytest.raises(RuntimeError):
        with store.open_text_write(uri("new.csv")) as f:
            f.write("half")
            raise RuntimeError("producer crashed")
    assert store.read_bytes(uri("keep.csv")) == b"old"  # the old object is untouched
    assert store.list(uri("")) == [uri("keep.csv")]


def test_list_uses_s3_prefix_semantics(store):
    for key in ("folder/a.csv", "folder/sub/b.csv", "folder_x/c.csv", "folderless.csv", "other/d.csv"):
        store.write_bytes(uri(key), b"1")
    # A prefix is a string prefix, not a folder: it also matches folder_x/ and folderless.csv.
    assert store.list(uri("folder")) == [uri("folder/a.csv"), uri("folder/sub/b.csv"), uri("folder_x/c.csv"),
                                         uri("folderless.csv")]
    # A trailing slash restricts to the folder (recursively).
    assert store.list(uri("folder/")) == [uri("folder/a.csv"), uri("folder/sub/b.csv")]
    assert store.list(uri("folder/s")) == [uri("folder/sub/b.csv")]  # a prefix ending mid-name
    assert store.list(uri("fold")) == store.list(uri("folder"))
    assert store.list(uri("missing/")) == []
    assert store.list(uri("folder/sub/b.csv")) == [uri("folder/sub/b.csv")]
    assert len(store.list(f"s3://{BUCKET}")) == 5  # the whole bucket


def test_delete(store):
    store.write_bytes(uri("a.csv"), b"1")
    store.write_bytes(uri("ab.csv"), b"2")
    store.delete(uri("a.csv"))
    assert store.list(uri("")) == [uri("ab.csv")]
    with pytest.raises(FileNotFoundError):
        store.open_read(uri("a.csv"))
    store.delete(uri("a.csv"))  # deleting an absent object is not an error


def test_from_config_round_trip(store):
    store.write_bytes(uri("shared.csv"), b"seen by workers")
    config = store.config()
    assert all(isinstance(v, (str, type(None))) for v in config.values())  # plain data, no client or secrets
    rebuilt = from_config(config)
    assert type(rebuilt) is type(store)
    assert rebuilt.config() == config
    assert rebuilt.read_bytes(uri("shared.csv")) == b"seen by workers"


def test_from_config_rejects_unknown_kind():
    with pytest.raises(ValueError):
        from_config({"kind": "ftp"})


@pytest.mark.parametrize("bad", ["bucket/key", "https://bucket/key", "s3://", "s3:///key"])
def test_split_uri_rejects_non_s3_uris(bad):
    with pytest.raises(ValueError):
        split_uri(bad)


def test_split_uri():
    assert split_uri("s3://b/some/key.csv") == ("b", "some/key.csv")
    assert split_uri("s3://b") == ("b", "")


# ---- local directory ----------------------------------------------------------------------------


def test_local_objects_are_files_under_root(tmp_path):
    store = LocalObjectStore(tmp_path)
    store.write_bytes("s3://b/dir/file.csv", b"data")
    assert (tmp_path / "b" / "dir" / "file.csv").read_bytes() == b"data"


def test_local_write_is_invisible_until_complete(local_store):
    with local_store.open_write(uri("in/progress.csv")) as f:
        f.write(b"partial")
        f.flush()
        # Readers and listings see neither the object nor its temp file until the block exits.
        assert local_store.list(uri("")) == []
        with pytest.raises(FileNotFoundError):
            local_store.open_read(uri("in/progress.csv"))
    assert local_store.list(uri("")) == [uri("in/progress.csv")]


def test_local_failed_write_leaves_no_temp_file(local_store):
    with pytest.raises(RuntimeError):
        with local_store.open_write(uri("dir/x.csv")) as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert [p for p in local_store.root.rglob("*") if p.is_file()] == []


ESCAPES = ["s3://bucket/../x.csv", "s3://bucket/a/../../x.csv", "s3://bucket/../../x.csv", "s3://../x.csv",
           "s3://./x.csv", "s3://bucket/../other/x.csv"]


@pytest.mark.parametrize("bad", ESCAPES)
def test_local_path_escape_rejected(tmp_path, bad):
    # "s3://b/../x" is a plain key on S3; on disk it would leave its bucket (another bucket, the store's
    # root or beyond), so the local store refuses it rather than alias another object.
    store = LocalObjectStore(tmp_path / "store" / "objects")
    for target in (tmp_path / "store" / "x.csv", store.root / "x.csv", store.root / "other" / "x.csv"):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"secret")
    with pytest.raises(ValueError):
        store.read_bytes(bad)
    with pytest.raises(ValueError):
        store.write_bytes(bad, b"overwritten")
    with pytest.raises(ValueError):
        store.delete(bad)
    assert all(p.read_bytes() == b"secret" for p in tmp_path.rglob("x.csv"))


@pytest.mark.parametrize("bad", ["s3://bucket/../", "s3://bucket/../x", "s3://bucket/a/../../", "s3://../", "s3://./"])
def test_local_list_cannot_escape_bucket(local_store, bad):
    local_store.write_bytes(uri("inside.csv"), b"1")
    (local_store.root / "stray.csv").write_bytes(b"not in any bucket")
    (local_store.root.parent / "outside.csv").write_bytes(b"secret")
    with pytest.raises(ValueError):
        local_store.list(bad)


def test_local_list_of_missing_bucket_is_empty(local_store):
    assert local_store.list("s3://nobucket/") == []


# ---- S3 -------------------------------------------------------------------------------------------


def test_s3_list_follows_pagination(s3_store, monkeypatch):
    # S3 pages at 1000 keys; pages of 2 show every page is read without writing 1000 objects.
    real_get_paginator = s3_store.client.get_paginator
    pages_read = []

    def small_pages(name):
        paginator = real_get_paginator(name)
        paginate = paginator.paginate

        def paginate_by_two(**kwargs):
            for page in paginate(**kwargs, PaginationConfig={"PageSize": 2}):
                pages_read.append(page.get("KeyCount"))
                yield page

        monkeypatch.setattr(paginator, "paginate", paginate_by_two)
        return paginator

    monkeypatch.setattr(s3_store.client, "get_paginator", small_pages)
    keys = [f"parts/{i:02d}.csv" for i in range(7)]
    for key in keys + ["parts_other/x.csv"]:
        s3_store.client.put_object(Bucket=BUCKET, Key=key, Body=b"")
    assert s3_store.list(uri("parts/")) == [uri(k) for k in keys]
    assert pages_read == [2, 2, 2, 1]


def test_s3_from_config_uses_environment_client(s3_store):
    rebuilt = storage.from_config({"kind": "s3", "region_name": "us-east-1", "endpoint_url": None})
    rebuilt.write_bytes(uri("from-worker.csv"), b"1")
    assert s3_store.read_bytes(uri("from-worker.csv")) == b"1"
