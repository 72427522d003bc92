"""recommendations_table: batch recommendations written back into the app database, swapped in atomically."""


import itertools
import json
import time
from datetime import datetime, timezone
from typing import Literal

import dagster as dg
from pydantic import Field

from recsys_assets.app_database import (
    LONG_COLUMNS,
    TableLoad,
    recommendations_table as long_table,
    recommendations_wide_table,
    replace_tables,
)
from recsys_assets.assets.common import preview_md
from recsys_assets.resources import AppDatabaseResource, ObjectStoreResource
from recsys_assets.workflow.inference import BatchOutputStats, read_batch_output
from recsys_assets.workflow.refs import BatchOutputRef

_TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,50}$"


class WritebackConfig(dg.Config):
    table: str = Field("recommendations", pattern=_TABLE_NAME,
                       description="Long form, one row per (user, rank); replaced as a whole.")
    form: Literal["long", "wide", "both"] = Field(
        "long", description="long: `table`; wide: `wide_table` (one row per user, items as a JSON array); both.")
    wide_table: str = Field("recommendations_by_user", pattern=_TABLE_NAME,
                            description="Wide form: user_id, item_ids and scores (JSON arrays, in rank order).")


@dg.asset(group_name="serving", kinds={"sql"},
          description="(user_id, rank, item_id, score, generated_at, solution_version_arn) in the app database, "
                      "and/or one row per user; the previous tables stay in place until the new ones are complete.")
def recommendations_table(context: dg.AssetExecutionContext, config: WritebackConfig, batch_output: BatchOutputRef,
                          app_db: AppDatabaseResource, object_store: ObjectStoreResource) -> dg.MaterializeResult:
    started = time.monotonic()
    output_uri, version_arn = batch_output.output_uri, batch_output.solution_version_arn
    # Naive UTC, like the rest of the app database's timestamps.
    generated_at = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    stats, preview = BatchOutputStats(), []
    store = object_store.get_store()

    def long_rows(record_stats: bool = True):
        with store.open_text_read(output_uri) as f:
            for user_id, rank, item_id, score in read_batch_output(f, stats if record_stats else BatchOutputStats()):
                row = (user_id, rank, item_id, None if score is None else float(score), generated_at, version_arn)
                if record_stats and len(preview) < 10:
                    preview.append(list(row))
                yield row

    def wide_rows(rows):
        for user_id, recs in itertools.groupby(rows, key=lambda r: r[0]):
            recs = list(recs)
            yield (user_id, json.dumps([r[2] for r in recs]), json.dumps([r[3] for r in recs]), generated_at,
                   version_arn)

    loads = []
    if config.form in ("long", "both"):
        loads.append(TableLoad(config.table, long_table, long_rows(), ("user_id",)))
    if config.form in ("wide", "both"):
        # Batch output holds each user's recommendations on one line, so a user's rows are consecutive.
        loads.append(TableLoad(config.wide_table, recommendations_wide_table,
                               wide_rows(long_rows(record_stats=config.form == "wide")), ("user_id",), unique=True))
    tables = [load.name for load in loads]
    try:
        counts = replace_tables(app_db.get_db(), loads)
    except Exception as e:
        raise dg.Failure(description=f"writing {', '.join(tables)} failed, so the tables the app reads are "
                                     f"unchanged: {type(e).__name__}: {e}",
                         metadata={"tables": ", ".join(tables), "database": app_db.display_url},
                         allow_retries=False) from e
    written = dict(zip(tables, counts))
    context.log.info(f"replaced {', '.join(f'{t} ({n} rows)' for t, n in written.items())} "
                     f"for {stats.users_with_items} users")
    return dg.MaterializeResult(metadata={
        "table": ", ".join(tables),
        "form": config.form,
        "database": app_db.display_url,
        "dagster/row_count": written.get(config.table, stats.recommendations),
        **{f"rows/{t}": n for t, n in written.items()},
        "users": stats.users_with_items,
        "generated_at": generated_at.isoformat(),
        "solution_version_arn": version_arn,
        "source_uri": dg.MetadataValue.path(output_uri),
        "preview": preview_md(list(LONG_COLUMNS), preview),
        "duration_seconds": round(time.monotonic() - started, 2),
    })
