"""recommendations_table: batch recommendations written back into the app database, swapped in atomically."""


import time
from datetime import datetime, timezone

import dagster as dg
from pydantic import Field

from recsys_assets.app_database import replace_table
from recsys_assets.assets.common import preview_md, upstream_metadata
from recsys_assets.assets.personalize import batch_output
from recsys_assets.resources import AppDatabaseResource, ObjectStoreResource
from recsys_assets.workflow.inference import BatchOutputStats, read_batch_output


class WritebackConfig(dg.Config):
    table: str = Field("recommendations", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,50}$",
                       description="Table the app reads recommendations from; replaced as a whole.")


@dg.asset(group_name="serving", kinds={"sql"}, deps=[batch_output],
          description="(user_id, rank, item_id, score, generated_at) in the app database; the previous table "
                      "stays in place until the new one is complete.")
def recommendations_table(context: dg.AssetExecutionContext, config: WritebackConfig, app_db: AppDatabaseResource,
                          object_store: ObjectStoreResource) -> dg.MaterializeResult:
    started = time.monotonic()
    output_uri = upstream_metadata(context, "batch_output")["output_uri"]
    # Naive UTC, like the rest of the app database's timestamps.
    generated_at = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    stats, preview = BatchOutputStats(), []

    def rows():
        with object_store.get_store().open_text_read(output_uri) as f:
            for user_id, rank, item_id, score in read_batch_output(f, stats):
                if len(preview) < 10:
                    preview.append([user_id, rank, item_id, score, generated_at])
                yield user_id, rank, item_id, score, generated_at

    written = replace_table(app_db.get_engine(), config.table, rows())
    context.log.info(f"replaced {config.table} with {written} rows for {stats.users_with_items} users")
    return dg.MaterializeResult(metadata={
        "table": config.table,
        "database": app_db.display_url,
        "dagster/row_count": written,
        "users": stats.users_with_items,
        "generated_at": generated_at.isoformat(),
        "source_uri": dg.MetadataValue.path(output_uri),
        "preview": preview_md(["user_id", "rank", "item_id", "score", "generated_at"], preview),
        "duration_seconds": round(time.monotonic() - started, 2),
    })
