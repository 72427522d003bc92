"""Demo-shop data for the app database: ``python -m recsys_assets.sample_data --help``."""

from recsys_assets.sample_data.generator import (
    events_table,
    generate,
    items_table,
    metadata,
    users_table,
)

__all__ = ["events_table", "generate", "items_table", "metadata", "users_table"]
