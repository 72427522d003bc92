"""The application's own database, through SQLAlchemy (SQLite, PostgreSQL, MariaDB/MySQL), and its mapping."""

from __future__ import annotations

import functools
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from recsys_assets.export.mapping import DEFAULT_MAPPING_FILE, MAPPING_ENV, Mapping, load_mapping
from recsys_assets.export.sql_ascii import read_sql_ascii_as_utf8
from recsys_assets.resources.environment import LocalRoot, SettingsError, env


DATABASE_URL_ENV = "RECSYS_DATABASE_URL"
_URL_FORM = ("dialect+driver://user:password@host:port/database, e.g. postgresql+psycopg://app@db:5432/shop; "
             "its value is not shown, as it may hold a password")


def parse_database_url(url: str) -> sa.URL:
    """``url`` parsed; SettingsError names the variable and what is wrong, never the value (or its password)."""
    try:
        parsed = sa.make_url(url)
    except ValueError:  # int() of the port
        raise SettingsError(f"{DATABASE_URL_ENV}: the port is not a number ({_URL_FORM})") from None
    except sa.exc.ArgumentError:
        raise SettingsError(f"{DATABASE_URL_ENV} is not a database URL ({_URL_FORM})") from None
    try:
        parsed.get_dialect()
    except sa.exc.NoSuchModuleError:
        raise SettingsError(f"{DATABASE_URL_ENV}: SQLAlchemy has no database {parsed.drivername!r}; use sqlite, "
                            f"postgresql+psycopg or mysql+pymysql ({_URL_FORM})") from None
    return parsed


@functools.cache
def _db(url: str) -> sa.Engine:
    parsed = parse_database_url(url)
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    except ImportError as e:
        raise SettingsError(f"{DATABASE_URL_ENV}: the driver of {parsed.drivername!r} is not installed "
                            f"({e.name or e})") from None
    # A PostgreSQL database in SQL_ASCII: text read as UTF-8, undecodable bytes reported as bad rows.
    return read_sql_ascii_as_utf8(engine)


def demo_database_url(local_root: str) -> str:
    return f"sqlite:///{Path(local_root, 'demo.db').resolve()}"


class AppDatabaseResource(dg.ConfigurableResource):
    """The app's own database (SQLite, PostgreSQL or MariaDB): the exports read it and the recommendations are
    written back to it, through the mapping of its tables onto the Personalize datasets."""

    url: str | None = env(DATABASE_URL_ENV, default=None, secret=True,
                          description="Any SQLAlchemy URL of the app database; unset: the demo shop's SQLite file "
                                      "under the local root")
    mapping_file: str = env(MAPPING_ENV, default=str(DEFAULT_MAPPING_FILE),
                            description="TOML file mapping the database's tables onto the Personalize datasets")
    local_root: LocalRoot

    @property
    def database_url(self) -> str:
        return self.url or demo_database_url(self.local_root)

    def get_db(self) -> sa.Engine:
        return _db(self.database_url)

    def get_mapping(self) -> Mapping:
        """Read on every call, so an edited mapping applies to the next run without a restart."""
        return load_mapping(self.mapping_file)

    @property
    def display_url(self) -> str:
        """The URL with any password masked, safe for logs and metadata."""
        return parse_database_url(self.database_url).render_as_string(hide_password=True)
