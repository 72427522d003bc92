"""Runs one engine job (import, training, batch inference) in its own process.

``python -m recsys_assets.engine.worker <engine root> <job arn>``: started by the service on create,
detached from the caller so the job finishes even if the Dagster step that created it dies, as it
would on AWS. Heavy numeric work also stays out of the orchestrator's process this way.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
import time
import traceback
from pathlib import Path

import pandas as pd

from recsys_assets import storage
from recsys_assets.engine import lifecycle, training
from recsys_assets.engine.batch import BatchInputError, answer_batch_inputs
from recsys_assets.engine.catalog import Catalog, Resource, Txn
from recsys_assets.engine.data import DataStore
from recsys_assets.engine.filter_evaluation import FilterContext, FilterDataError
from recsys_assets.engine.models import Model
from recsys_assets.engine.recipes.catalogue import TrainingError, auto_ml_candidates, get_recipe
from recsys_assets.engine.recipes.preparation import TrainingData
from recsys_assets.personalize_rules.bulk_csv import DataValidationError, read_dataset_csv
from recsys_assets.personalize_rules.filter_grammar import parse_filter
from recsys_assets.personalize_rules.limits import MAX_IMPORT_BYTES
from recsys_assets.personalize_rules.minimums import MIN_INTERACTIONS
from recsys_assets.personalize_rules.schemas import dataset_label, parse_schema

# Datasets a group's recipes and filters read, keyed by the TrainingData/FilterContext attribute.
_GROUP_DATASETS = {"INTERACTIONS": "interactions", "ITEMS": "items", "USERS": "users"}


class JobFailed(Exception):
    """The job ends CREATE FAILED with this failureReason."""


def main(root: str, arn: str) -> None:
    catalog = Catalog(Path(root) / "catalog.db")
    data = DataStore(root)
    res = _wait_for_row(catalog, arn)
    time.sleep(res.internal.get("pending_seconds", 0.0))
    reason = None
    try:
        with catalog.transaction() as txn:
            current = txn.get(arn)
            if current is None or current.status != "CREATE PENDING":
                return  # stopped or deleted while pending
            current.status = "CREATE IN_PROGRESS"
            txn.save(current)
        started = time.time()
        updates, status, reason = _run(catalog, data, res)
        with catalog.transaction() as txn:
            current = txn.get(arn)
            if current is None or current.status != "CREATE IN_PROGRESS":
                return  # stopped meanwhile: its outcome must not overwrite CREATE STOPPED
            current.status = status
            current.body.update(updates.get("body", {}))
            current.internal.update(updates.get("internal", {}))
            if reason:
                current.body["failureReason"] = reason
            if current.kind == "solution-version" and status == "ACTIVE":
                # Billed compute: wall time of this job's work, training and evaluation together.
                current.body["trainingHours"] = round((time.time() - started) / 3600, 6)
            txn.save(current)
            # What the job's outcome tells its parent (AutoML's choice, on the solution), in the same transaction:
            # a version stopped meanwhile leaves it untouched.
            parent = txn.get(current.parent) if updates.get("parent_body") else None
            if parent is not None:
                parent.body.update(updates["parent_body"])
                txn.save(parent)
    except sqlite3.OperationalError as e:
        # The catalog can't be written (a full disk): the job fails, and ``refresh`` records it with this
        # reason once this process is gone and the catalog can be written again.
        data.discard(arn)
        lifecycle.leave_reason(res, reason or f"The local engine could not write its catalog: {e}.")
        raise
    if "reason_file" in res.internal:  # recorded: nothing left for refresh to find
        Path(res.internal["reason_file"]).unlink(missing_ok=True)


def _run(catalog: Catalog, data: DataStore, res: Resource) -> tuple[dict, str, str | None]:
    """The job's catalog updates, end status and failureReason."""
    if res.kind in ("solution-version", "batch-inference-job"):
        # Both score with the compiled kernels: numba's import and set-up (~0.7 s) overlap the job's
        # first steps this way.
        threading.Thread(target=_warm_kernels, name="kernels").start()
    try:
        return _JOBS[res.kind](catalog, data, res), "ACTIVE", None
    except (JobFailed, TrainingError, DataValidationError, BatchInputError, FilterDataError) as e:
        reason = str(e)
    except OSError as e:  # the machine's trouble (a full disk), not an engine bug
        reason = f"The local engine could not read or write a file: {e}"
    except Exception as e:  # noqa: BLE001 - an engine bug must still end the job, visibly
        with contextlib.suppress(OSError):  # the log may be on the full disk too
            traceback.print_exc()
        reason = f"Internal error in the local engine: {e!r}"
    data.discard(res.arn)  # a failed job keeps no model, not even part of one
    return {}, "CREATE FAILED", reason


def _warm_kernels() -> None:
    from recsys_assets.engine import kernels

    kernels.warm_up()


def _wait_for_row(catalog: Catalog, arn: str) -> Resource:
    # The service starts us inside the transaction that inserts the row; it appears on commit.
    for _ in range(600):
        with catalog.connect() as conn:
            res = Txn(conn).get(arn)
        if res is not None:
            return res
        time.sleep(0.05)
    raise SystemExit(f"job {arn} never appeared in the catalog")


def group_frames(catalog: Catalog, data: DataStore, group_arn: str) -> dict[str, pd.DataFrame | None]:
    with catalog.connect() as conn:
        txn = Txn(conn)
        datasets = [(d, txn.get(d.body["schemaArn"])) for d in txn.find("dataset", group_arn)]
    frames: dict[str, pd.DataFrame | None] = {attr: None for attr in _GROUP_DATASETS.values()}
    for dataset, schema in datasets:
        attr = _GROUP_DATASETS.get(dataset.body["datasetType"])
        if attr is None:
            continue
        frame = data.read_dataset(dataset.arn)
        if frame is not None and schema is not None:
            # After UpdateDataset the records imported earlier have no value for the added fields.
            frame = frame.reindex(columns=parse_schema(schema.body["schema"]).field_names)
        frames[attr] = frame
    return frames


def import_job(catalog: Catalog, data: DataStore, job: Resource) -> dict:
    with catalog.connect() as conn:
        txn = Txn(conn)
        dataset = txn.get(job.body["datasetArn"])
        schema_res = txn.get(dataset.body["schemaArn"]) if dataset else None
    if dataset is None or schema_res is None:
        raise JobFailed(f"Dataset {job.body['datasetArn']} no longer exists.")
    dataset_type = dataset.body["datasetType"]
    schema = parse_schema(schema_res.body["schema"])
    store = storage.from_config(job.internal["store"])
    location = job.body["dataSource"]["dataLocation"]
    # A location ending in "/" imports every CSV in that folder.
    uris = [u for u in store.list(location) if u.endswith(".csv")] if location.endswith("/") else [location]
    if not uris:
        raise JobFailed("Invalid Data location.")
    try:
        size = sum(store.size(uri) for uri in uris)
    except FileNotFoundError:
        raise JobFailed("Invalid Data location.") from None
    limit = MAX_IMPORT_BYTES[job.body["importMode"]]
    if size > limit:
        raise JobFailed(f"Failed to create a data import job for {dataset_label(dataset_type)} dataset. "
                        f"{location} holds {size} bytes; a {job.body['importMode']} import takes at most {limit}.")
    frames = []
    for uri in uris:
        with store.open_read(uri) as stream:
            frames.append(read_dataset_csv(stream, schema, dataset_type, source=uri))
    new = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if dataset_type == "INTERACTIONS" and len(new) < MIN_INTERACTIONS:
        raise JobFailed(
            f"Failed to create a data import job for Interactions dataset. An import job needs at least "
            f"{MIN_INTERACTIONS} interaction records; {location} has {len(new)}."
        )
    previous = data.read_dataset(dataset.arn)
    if job.body["importMode"] == "INCREMENTAL" and previous is not None:
        combined = pd.concat([previous, new], ignore_index=True)
        # Records with the same ID replace the old ones; interactions are appended.
        key = {"USERS": ["USER_ID"], "ITEMS": ["ITEM_ID"]}.get(dataset_type)
        new = combined.drop_duplicates(subset=key, keep="last", ignore_index=True) if key else combined
    data.write_dataset(dataset.arn, new)
    return {"internal": {"records": len(new)}}


def training_job(catalog: Catalog, data: DataStore, version: Resource) -> dict:
    body = version.body
    frames = group_frames(catalog, data, body["datasetGroupArn"])
    if frames["interactions"] is None:
        raise JobFailed("Create failed. The dataset group has no imported Item interactions data.")
    group_data = TrainingData(**frames)
    config = body.get("solutionConfig")
    if version.internal.get("base"):  # trainingMode UPDATE
        config = _updated_config(catalog, version.internal["base"], config)
    # An UPDATE reuses the tuned values of the version it updates and searches no further.
    perform_hpo = bool(body.get("performHPO")) and not version.internal.get("base")
    # AutoML (FULL): every candidate recipe trains with HPO, the best by autoMLConfig.metricName is kept. An
    # UPDATE of an AutoML solution retrains the recipe its FULL version chose (body's recipeArn, set on create).
    auto_ml = bool(body.get("performAutoML")) and not version.internal.get("base")
    if auto_ml:
        recipes, metric = auto_ml_candidates(config)
        recipe_arn, model, scores = training.train_auto_ml(recipes, metric, group_data,
                                                           event_type=body.get("eventType"))
    else:
        recipe_arn = body["recipeArn"]
        model, scores = training.train_and_evaluate(recipe_arn, group_data, event_type=body.get("eventType"),
                                                   solution_config=config, perform_hpo=perform_hpo)
    path = data.model_path(version.arn)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    updates = {"internal": {"metrics": scores, "model": str(path)}, "body": {}}
    if perform_hpo and model.tuned_hyperparameters:
        updates["body"]["tunedHPOParams"] = {"algorithmHyperParameters": model.tuned_hyperparameters}
    if auto_ml:
        # The version names the recipe it trained; DescribeSolution reports it as autoMLResult.bestRecipeArn.
        updates["body"]["recipeArn"] = recipe_arn
        updates["parent_body"] = {"autoMLResult": {"bestRecipeArn": recipe_arn}}
    return updates


def _updated_config(catalog: Catalog, base_arn: str, config: dict | None) -> dict | None:
    """An UPDATE retrains on the current data with the hyperparameters the FULL version it updates ended
    up with (its HPO winner, if HPO ran), and searches no further."""
    with catalog.connect() as conn:
        base = Txn(conn).get(base_arn)
    tuned = ((base.body.get("tunedHPOParams") or {}) if base else {}).get("algorithmHyperParameters")
    if not tuned:
        return config
    config = dict(config or {})
    config["algorithmHyperParameters"] = {**(config.get("algorithmHyperParameters") or {}), **tuned}
    return config


def batch_inference_job(catalog: Catalog, data: DataStore, job: Resource) -> dict:
    body = job.body
    with catalog.connect() as conn:
        txn = Txn(conn)
        version = txn.get(body["solutionVersionArn"])
        flt = txn.get(body["filterArn"]) if body.get("filterArn") else None
    if version is None:
        raise JobFailed(f"Solution version {body['solutionVersionArn']} no longer exists.")
    model = Model.load(data.model_path(version.arn))
    recipe = get_recipe(version.body["recipeArn"])
    parsed, ctx = None, None
    if flt is not None:
        parsed = parse_filter(flt.body["filterExpression"])
        frames = group_frames(catalog, data, version.body["datasetGroupArn"])
        ctx = FilterContext(item_ids=model.item_ids, **frames)
    counts = answer_batch_inputs(
        storage.from_config(job.internal["store"]), model, recipe,
        input_path=body["jobInput"]["s3DataSource"]["path"],
        output_path=body["jobOutput"]["s3DataDestination"]["path"],
        num_results=body["numResults"], filter_=parsed, filter_ctx=ctx,
    )
    return {"internal": {"counts": counts}}


_JOBS = {
    "dataset-import-job": import_job,
    "solution-version": training_job,
    "batch-inference-job": batch_inference_job,
}

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
