"""Two runs of the whole graph at once, on one Dagster instance and one local engine, for two app databases.

Each is its own process (as the schedule, a UI launch and a CLI materialization are) against the same
DAGSTER_HOME and engine root. Each must end with recommendations of its own solution version for its own
users; the instance's ``personalize`` pool (limit 1, as ``make dev`` configures it) makes the second run's
Personalize steps wait for the first's.
"""

import json
import os
import subprocess
import sys
import textwrap

import dagster as dg
import sqlalchemy as sa

from recsys_assets.sample_data import generate

SHOPS = {"small": 300, "large": 500}
RUN = textwrap.dedent("""
    import json, sys
    import dagster as dg
    from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS
    from recsys_assets.resources import build_resources
    from recsys_assets_tests.conftest import with_fields

    resources = build_resources()
    # Quick lifecycle and polling; everything else as the daily job runs it.
    resources["personalize"] = with_fields(resources["personalize"], local_transition_seconds=0.0,
                                           poll_interval_seconds=0.05, poll_max_interval_seconds=0.2)
    result = dg.materialize(ALL_ASSETS + ALL_CHECKS, resources=resources, instance=dg.DagsterInstance.get(),
                            raise_on_error=False)
    print(json.dumps({"run_id": result.run_id, "success": result.success}))
""")
PERSONALIZE_STEPS = ("dataset_group", "solution_version", "batch_output")


def _step_spans(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    starts, ends = {}, {}
    for record in instance.get_records_for_run(run_id).records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None or event.step_key not in PERSONALIZE_STEPS:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ends[event.step_key] = entry.timestamp
    return [(starts[k], ends[k]) for k in PERSONALIZE_STEPS]


def test_two_whole_graph_runs_at_once_each_serve_their_own_users(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get():
        pass  # an instance that exists already, as under `dagster dev` (two first starts would race to create it)
    root = tmp_path / "engine-root"
    urls = {}
    for name, users in SHOPS.items():
        urls[name] = f"sqlite:///{tmp_path / name}.db"
        generate(urls[name], users=users, items=120, interactions=30 * users, seed=users)
    procs = {}
    for name, url in urls.items():
        env = {**os.environ, "DAGSTER_HOME": str(home), "RECSYS_LOCAL_ROOT": str(root), "RECSYS_DATABASE_URL": url}
        procs[name] = subprocess.Popen([sys.executable, "-c", RUN], env=env, stdout=subprocess.PIPE, text=True)
    runs = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        runs[name] = json.loads(out.strip().splitlines()[-1])
    assert all(run["success"] for run in runs.values()), runs

    with dg.DagsterInstance.get() as instance:
        records = instance.fetch_materializations(dg.AssetKey("solution_version"), limit=10).records
        versions = {name: r.asset_materialization.metadata["solution_version_arn"].value
                    for name, run in runs.items() for r in records if r.run_id == run["run_id"]}
        spans = {name: _step_spans(instance, run["run_id"]) for name, run in runs.items()}
    assert versions["small"] != versions["large"]
    for name, users in SHOPS.items():
        with sa.create_engine(urls[name]).connect() as conn:
            covered, arns = conn.execute(sa.text(
                "SELECT COUNT(DISTINCT user_id), COUNT(DISTINCT solution_version_arn) FROM recommendations")).one()
            arn = conn.execute(sa.text("SELECT MIN(solution_version_arn) FROM recommendations")).scalar()
        assert (covered, arns, arn) == (users, 1, versions[name])
    # One Personalize step at a time across both runs: no two of their spans overlap.
    intervals = sorted(spans["small"] + spans["large"])
    assert all(end <= next_start for (_, end), (next_start, _) in zip(intervals, intervals[1:])), spans


def test_the_instance_make_dev_creates_limits_personalize_steps_and_daily_runs(tmp_path, monkeypatch):
    home = tmp_path / "home"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["make", "-s", f"DAGSTER_HOME={home}", f"{home}/dagster.yaml"], cwd=root, check=True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        config = instance.get_concurrency_config()
    assert config.pool_config.default_pool_limit == 1
    assert config.run_queue_config.tag_concurrency_limits == [
        {"key": "recsys/deployment", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
