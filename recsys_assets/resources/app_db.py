"""The application's own database, through SQLAlchemy (SQLite, PostgreSQL, MariaDB/MySQL)."""

from __future__ import annotations

import functools

import dagster as dg
import sqlalchemy as sa


@functools.cache
def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True)


class AppDatabaseResource(dg.ConfigurableResource):
    url: str

    def get_engine(self) -> sa.Engine:
        return _engine(self.url)

    @property
    def display_url(self) -> str:
        """The URL with any password masked, safe for logs and metadata."""
        return sa.make_url(self.url).render_as_string(hide_password=True)
