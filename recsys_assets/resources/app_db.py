"""The application's own database, through SQLAlchemy (SQLite, PostgreSQL, MariaDB/MySQL), and its mapping."""

from __future__ import annotations

import functools
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from recsys_assets.export.mapping import DEFAULT_MAPPING_FILE, MAPPING_ENV, Mapping, load_mapping
from recsys_assets.resources.environment import LocalRoot, env


@functools.cache
def _db(url: str) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True)


def demo_database_url(local_root: str) -> str:
    return f"sqlite:///{Path(local_root, 'demo.db').resolve()}"


class AppDatabaseResource(dg.ConfigurableResource):
    """The app's own database (SQLite, PostgreSQL or MariaDB): the exports read it and the recommendations are
    written back to it, through the mapping of its tables onto the Personalize datasets."""

    url: str | None = env("RECSYS_DATABASE_URL", default=None, secret=True,
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
        return sa.make_url(self.database_url).render_as_string(hide_password=True)
