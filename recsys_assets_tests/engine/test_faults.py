"""A full disk under the engine's root: a job whose files or catalog writes fail ends CREATE FAILED with the
cause, keeps no partial model, and blocks nothing of a later run. Simulated without privileges: ``/dev/full``
as the model file (ENOSPC), a file-size limit on the worker (its catalog writes fail), the catalog's page limit.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import time

import pytest

from recsys_assets.engine import lifecycle
from recsys_assets.engine.catalog import Catalog, Resource
from recsys_assets.engine.data import DataStore

from .contract import assert_gone, import_job, make_dataset, make_group, make_solution, wait_for

POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"


def _trainable_group(c, object_store) -> tuple[str, str, str]:
    """A group with 1,200 imported interactions and a solution: its group, dataset and solution."""
    group = make_group(c)
    dataset = make_dataset(c, group, "interactions")
    rows = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"]
    rows += [f"u{u},i{(u * 7 + k) % 60},{1_700_000_000 + u * 1000 + k},view," for u in range(40) for k in range(30)]
    object_store.write_bytes("s3://bucket/train/interactions.csv", ("\n".join(rows) + "\n").encode())
    job = wait_for(c.describe_dataset_import_job, "datasetImportJob",
                   datasetImportJobArn=import_job(c, dataset, "s3://bucket/train/interactions.csv"))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    return group, dataset, make_solution(c, group, recipe=POPULARITY)


def _tear_down(c, group: str, dataset: str, solution: str) -> None:
    """The failed run's cleanup goes through, and a later run can start."""
    c.delete_solution(solutionArn=solution)
    assert_gone(c.describe_solution, solutionArn=solution)
    c.delete_dataset(datasetArn=dataset)
    assert_gone(c.describe_dataset, datasetArn=dataset)
    c.delete_dataset_group(datasetGroupArn=group)
    assert_gone(c.describe_dataset_group, datasetGroupArn=group)
    make_group(c, name="next-run")


def test_training_that_cannot_write_its_model_fails_with_the_cause(personalize, object_store, engine_root):
    c = personalize
    group, dataset, solution = _trainable_group(c, object_store)
    version = c.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    model = DataStore(engine_root).model_path(version)
    model.parent.mkdir(exist_ok=True)
    model.symlink_to("/dev/full")  # writes fail with ENOSPC; the worker is still starting (it trains for seconds)
    described = wait_for(c.describe_solution_version, "solutionVersion", solutionVersionArn=version)
    assert described["status"] == "CREATE FAILED"
    assert "No space left on device" in described["failureReason"]
    assert not os.path.lexists(model)  # no partial model left behind
    assert not described["failureReason"].startswith("Internal error")  # the machine's trouble, not a bug
    _tear_down(c, group, dataset, solution)


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")
def test_a_job_whose_outcome_the_catalog_cannot_take_fails_with_the_cause(personalize, object_store, engine_root):
    c = personalize
    group, dataset, solution = _trainable_group(c, object_store)
    version = c.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    deadline = time.monotonic() + 60
    while c.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"] == "CREATE PENDING":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # Holding the catalog's write lock, the worker can't have recorded its outcome before its files are capped.
    with Catalog(engine_root / "catalog.db").transaction() as txn:
        row = txn.get(version)
        assert row.status == "CREATE IN_PROGRESS"
        # From now on none of the worker's files may grow past its reason file's size, as on a full disk:
        # its model (if not saved yet) and its catalog writes fail.
        limit = lifecycle.REASON_BYTES
        resource.prlimit(row.internal["pid"], resource.RLIMIT_FSIZE, (limit, limit))
    described = wait_for(c.describe_solution_version, "solutionVersion", solutionVersionArn=version)
    assert described["status"] == "CREATE FAILED"
    reason = described["failureReason"]
    assert "exited before finishing" not in reason  # the worker's own reason, recorded once it is gone
    assert "File too large" in reason or "could not write its catalog" in reason, reason
    assert not os.path.lexists(DataStore(engine_root).model_path(version))
    _tear_down(c, group, dataset, solution)


def test_a_full_catalog_says_so(engine_root):
    catalog = Catalog(engine_root / "catalog.db")
    with catalog.connect() as conn:  # this connection's database may not grow, as on a full disk
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    big = Resource(arn="arn:big", kind="schema", name="big", parent=None, status=None, created=0.0, updated=0.0,
                   body={"schema": "x" * 100_000})
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        with catalog.transaction() as txn:
            txn.insert(big)
    with catalog.transaction() as txn:  # the connection is not left inside a transaction
        assert txn.get("arn:big") is None
