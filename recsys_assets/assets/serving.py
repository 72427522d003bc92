"""recommendations_table: batch recommendations written back into the app database, swapped in atomically."""


import functools
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
from recsys_assets.assets.common import OWNERS, cleaned_up_on_failure, preview_md
from recsys_assets.export.id_types import id_types, text_ids
from recsys_assets.resources import AppDatabaseResource, ObjectStoreResource, PersonalizeResource
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
    id_types: Literal["source", "text"] = Field(
        "source", description="source: user_id and item_id of the type of the mapped users' and items' ID columns "
                              "(integer, UUID or text; text where that is a query or an expression), so they join "
                              "with the app's tables; text: always text.")


@dg.asset(group_name="serving", kinds={"sql"}, owners=OWNERS, tags={"layer": "serving"}, code_version="1",
          description="(user_id, rank, item_id, score, generated_at, solution_version_arn) in the app database, "
                      "and/or one row per user; the previous tables stay in place until the new ones are complete.")
def recommendations_table(context: dg.AssetExecutionContext, config: WritebackConfig, batch_output: BatchOutputRef,
                          app_db: AppDatabaseResource, object_store: ObjectStoreResource,
                          personalize: PersonalizeResource) -> dg.MaterializeResult:
    with cleaned_up_on_failure(context, personalize, object_store):
        started = time.monotonic()
        output_uri, version_arn = batch_output.output_uri, batch_output.solution_version_arn
        # Naive UTC, like the rest of the app database's timestamps.
        generated_at = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        stats, preview = BatchOutputStats(), []
        store = object_store.get_store()
        db = app_db.get_db()
        types = id_types(db, app_db.get_mapping()) if config.id_types == "source" else text_ids("id_types: text")
        for t in types.values():
            if t.fell_back:
                context.log.warning(f"{t.column} is written as {t.note}; a JOIN with the app's key may need a CAST")
        user_type, item_type = types["user_id"], types["item_id"]

        def long_rows(record_stats: bool = True, typed_items: bool = True):
            to_user, to_item, last_user = user_type.convert, item_type.convert, None
            with store.open_text_read(output_uri) as f:
                records = read_batch_output(f, stats if record_stats else BatchOutputStats())
                for user_id, rank, item_id, score in records:
                    if user_id is not last_user:  # a line's rows share one user_id string: converted once
                        last_user, user = user_id, to_user(user_id, user_id, rank)
                    row = (user, rank, to_item(item_id, user_id, rank) if typed_items else item_id,
                           None if score is None else float(score), generated_at, version_arn)
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
            typed = functools.partial(long_table, user_id=user_type.sql, item_id=item_type.sql)
            loads.append(TableLoad(config.table, typed, long_rows(), ("user_id",)))
        if config.form in ("wide", "both"):
            # Batch output holds each user's recommendations on one line, so a user's rows are consecutive. The
            # item_ids stay the batch output's strings.
            wide = functools.partial(recommendations_wide_table, user_id=user_type.sql)
            loads.append(TableLoad(config.wide_table, wide,
                                   wide_rows(long_rows(record_stats=config.form == "wide", typed_items=False)),
                                   ("user_id",), unique=True))
        tables = [load.name for load in loads]
        try:
            counts = replace_tables(db, loads)
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
            "user_id_type": user_type.note,
            "item_id_type": item_type.note,
            "database": app_db.display_url,
            "dagster/row_count": written.get(config.table, stats.recommendations),
            **{f"rows/{t}": n for t, n in written.items()},
            "users_covered": stats.users_with_items,
            "generated_at": generated_at.isoformat(),
            "solution_version_arn": version_arn,
            "source_uri": dg.MetadataValue.path(output_uri),
            "preview": preview_md(list(LONG_COLUMNS), preview),
            "duration_seconds": round(time.monotonic() - started, 2),
        })
