"""Shared fixtures: app databases of every supported kind, and a local backend under tmp_path."""

import contextlib
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from recsys_assets.resources import build_resources
from recsys_assets.resources.app_db import demo_database_url
from recsys_assets.sample_data import generate
from recsys_assets.workflow import resource_types as rt

SERVERS = {
    "postgresql": ("PostgreSQL", "postgresql+psycopg://root@127.0.0.1:5432/test"),
    "mariadb": ("MariaDB", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
# Small but above Personalize's minimum data, and structured enough to train on.
SMALL_SHOP = {"users": 300, "items": 120, "interactions": 9000}


@contextlib.contextmanager
def throwaway_database(kind: str, tmp_dir: Path, options: str = ""):
    """An empty database of ``kind``; on servers a new one, dropped afterwards, so shared tables are safe.
    ``options`` follow CREATE DATABASE's name (e.g. PostgreSQL's ``ENCODING 'SQL_ASCII' ...``)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_dir / 'app.db'}"
        return
    label, admin_url = SERVERS[kind]
    url = sa.make_url(admin_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"recsys_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name} {options}".strip()))
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        admin.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        pytest.skip(f"{label} not reachable at {url.host}:{url.port}: {reason}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name}{force}"))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", *SERVERS])
def database_url(request, tmp_path_factory):
    """An empty app database of each supported kind (one per session and kind). A test for some kinds only
    names them: ``@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)``."""
    with throwaway_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


@pytest.fixture(scope="session")
def small_shop_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "demo.db"
    generate(f"sqlite:///{path}", **SMALL_SHOP)
    return path


@dataclass(frozen=True)
class LocalBackend:
    local_root: str
    database_url: str

    @property
    def environ(self) -> dict[str, str]:
        return {"RECSYS_LOCAL_ROOT": self.local_root}


@pytest.fixture
def local_settings(tmp_path, small_shop_template) -> LocalBackend:
    """The embedded default, rooted in tmp_path, with its own copy of a small demo shop."""
    root = tmp_path / ".recsys"
    root.mkdir()
    shutil.copy(small_shop_template, root / "demo.db")
    return LocalBackend(local_root=str(root), database_url=demo_database_url(str(root)))


def with_fields(resource, **changes):
    """A copy of a resource with some fields changed (Dagster builds resources from their config, so
    pydantic's model_copy would change the attribute but not what a run gets)."""
    return type(resource)(**{**{name: getattr(resource, name) for name in type(resource).model_fields}, **changes})


@pytest.fixture
def local_resources(local_settings) -> dict:
    """Real local resources, with no lifecycle delays and fast polling so tests run quickly."""
    resources = build_resources(local_settings.environ)
    resources["personalize"] = with_fields(resources["personalize"], local_transition_seconds=0.0,
                                           poll_interval_seconds=0.05, poll_max_interval_seconds=0.2)
    return resources


@pytest.fixture
def stubbed(monkeypatch):
    """``stubbed("personalize")``: a boto3 client behind botocore's Stubber (``client.stub``), fake credentials,
    no network; every queued response must have been used by the end of the test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    made = []

    def make(service: str):
        client = boto3.session.Session().client(service, region_name="eu-west-1")
        client.stub = Stubber(client)
        client.stub.activate()
        made.append(client)
        return client

    yield make
    for client in made:
        client.stub.assert_no_pending_responses()
        client.stub.deactivate()


def refuse_deletes(monkeypatch, refused: rt.ResourceType) -> None:
    """Every delete of the ``refused`` type fails as the service can (InvalidInputException); others go through."""
    delete = rt.ResourceType.delete

    def refusing(rtype, client, arn):
        if rtype is refused:
            raise ClientError({"Error": {"Code": "InvalidInputException", "Message": "refused"}},
                              f"Delete{rtype.wrapper[0].upper()}{rtype.wrapper[1:]}")
        delete(rtype, client, arn)

    monkeypatch.setattr(rt.ResourceType, "delete", refusing)


@contextlib.contextmanager
def engine_dropping(database_url: str, tables) -> sa.Engine:
    """An engine on ``database_url``; afterwards ``tables`` and their write-back copies (``_staging``,
    ``_old``) are dropped, so a test on a shared server leaves nothing."""
    engine = sa.create_engine(database_url)
    try:
        yield engine
    finally:
        with engine.begin() as conn:
            for t in tables:
                for suffix in ("", "_staging", "_old"):
                    conn.execute(sa.text(f"DROP TABLE IF EXISTS {t}{suffix}"))
        engine.dispose()
