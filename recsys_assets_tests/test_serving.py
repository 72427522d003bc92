"""recommendations_table on its own: long and wide forms, the solution version's ARN, failures that change nothing."""

import json

import dagster as dg
import pytest
import sqlalchemy as sa

from recsys_assets.assets import recommendations_table
from recsys_assets.workflow.refs import BatchOutputRef

ARN = "arn:aws:personalize:us-east-1:000000000000:solution/recsys-1a2b3c4d/0123abcd"
OUTPUT_URI = "s3://recsys-local/recsys/run/batch-output/users.json.out"


def batch_line(user, items):
    return json.dumps({"input": {"userId": user},
                       "output": {"recommendedItems": items, "scores": [1.0 / (i + 1) for i in range(len(items))]}})


@dg.asset(name="batch_output", io_manager_key="run_outputs")
def this_runs_batch_output() -> BatchOutputRef:
    """Stands for batch_output: its record of this run, as the write-back receives it."""
    return BatchOutputRef(output_uri=OUTPUT_URI, input_uri="s3://recsys-local/recsys/run/batch-input/users.json",
                          batch_inference_job_arn="arn:aws:personalize:us-east-1:000000000000:batch-inference-job/j",
                          solution_version_arn=ARN, filter_arn=None, status="ACTIVE", reused=False)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def write_back(resources, instance, lines, **config):
    resources["object_store"].get_store().write_bytes(OUTPUT_URI, ("\n".join(lines) + "\n").encode())
    return dg.materialize([this_runs_batch_output, recommendations_table], instance=instance, raise_on_error=False,
                          resources={k: resources[k] for k in ("app_db", "object_store", "run_outputs", "personalize")},
                          run_config={"ops": {"recommendations_table": {"config": config}}})


def test_both_forms_carry_the_solution_version(local_resources, local_settings, instance):
    result = write_back(local_resources, instance, [batch_line("1", ["7", "8", "9"]), batch_line("2", ["8"])],
                        form="both")
    assert result.success
    meta = result.asset_materializations_for_node("recommendations_table")[0].metadata
    assert meta["solution_version_arn"].value == ARN and meta["dagster/row_count"].value == 4
    assert (meta["rows/recommendations"].value, meta["rows/recommendations_by_user"].value) == (4, 2)
    with sa.create_engine(local_settings.database_url).connect() as conn:
        long = conn.execute(sa.text("SELECT user_id, rank, item_id, solution_version_arn FROM recommendations "
                                    "ORDER BY user_id, rank")).all()
        wide = conn.execute(sa.text("SELECT user_id, item_ids, scores FROM recommendations_by_user "
                                    "ORDER BY user_id")).all()
    # The demo shop's IDs are integers, and so are the written ones; the wide form's items stay strings.
    assert long == [(1, 1, 7, ARN), (1, 2, 8, ARN), (1, 3, 9, ARN), (2, 1, 8, ARN)]
    assert [(u, json.loads(i), json.loads(s)) for u, i, s in wide] == [
        (1, ["7", "8", "9"], [1.0, 0.5, 1 / 3]), (2, ["8"], [1.0])]
    assert (meta["user_id_type"].value, meta["item_id_type"].value) == ("INTEGER, as users.user_id",
                                                                        "INTEGER, as items.item_id")


def test_a_broken_batch_output_leaves_yesterdays_table_and_says_why(local_resources, local_settings, instance):
    assert write_back(local_resources, instance, [batch_line("1", ["7", "8"])]).success
    result = write_back(local_resources, instance, [batch_line("1", ["9"]), '{"input": {"userId": "2"}, "outp'])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "tables the app reads are unchanged: JSONDecodeError" in str(failure.event_specific_data.error)
    with sa.create_engine(local_settings.database_url).connect() as conn:
        assert conn.execute(sa.text("SELECT item_id FROM recommendations ORDER BY rank")).scalars().all() == [7, 8]
