"""The application's own database, through SQLAlchemy (SQLite, PostgreSQL, MariaDB/MySQL), and its mapping."""

from __future__ import annotations

import functools

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from recsys_assets.mapping import DEFAULT_MAPPING_FILE, Mapping, load_mapping


@functools.cache
def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True)


class AppDatabaseResource(dg.ConfigurableResource):
    url: str
    mapping_file: str = Field(str(DEFAULT_MAPPING_FILE),
                              description="TOML file mapping the database's tables onto the Personalize datasets.")

    def get_engine(self) -> sa.Engine:
        return _engine(self.url)

    def get_mapping(self) -> Mapping:
        """Read on every call, so an edited mapping applies to the next run without a restart."""
        return load_mapping(self.mapping_file)

    @property
    def display_url(self) -> str:
        """The URL with any password masked, safe for logs and metadata."""
        return sa.make_url(self.url).render_as_string(hide_password=True)
