"""Dagster's own CLI, `dg`, finds the code location through pyproject.toml's [tool.dg] and runs it.

Each command runs as a user runs it: the venv's `dg`, from the project root, on a fresh instance
(DAGSTER_HOME, telemetry off) and the local backend rooted in tmp_path, with a small demo shop.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

DG = Path(sys.executable).parent / "dg"
ROOT = Path(__file__).parents[1]
ASSETS = {"users_csv", "items_csv", "interactions_csv", "dataset_group", "solution_version", "batch_output",
          "recommendations_table"}


@pytest.fixture
def dg_env(tmp_path, local_settings, monkeypatch) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # this process reads the same instance
    # The schedules start stopped: `dg dev` runs the daemon, which would otherwise launch the hourly sweep.
    return {**os.environ, "DAGSTER_HOME": str(home), "RECSYS_LOCAL_ROOT": local_settings.local_root,
            "RECSYS_AUTOMATION": "stopped"}


def run_dg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(DG), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"dg {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def test_dg_check_defs_loads_the_code_location(dg_env):
    assert "All definitions loaded successfully" in run_dg(dg_env, "check", "defs").stdout


def test_dg_list_defs_lists_assets_jobs_schedules_and_sensors(dg_env):
    listed = json.loads(run_dg(dg_env, "list", "defs", "--json").stdout)
    names = {kind: {entry["name"] for entry in listed[kind]} for kind in ("jobs", "schedules", "sensors", "resources")}
    assert {asset["asset_key"] for asset in listed["assets"]} == ASSETS
    assert names["jobs"] == {"daily_recs_job", "cleanup_job"}
    assert names["schedules"] == {"daily_recs_schedule", "orphan_sweep_schedule"}
    assert names["sensors"] == {"cleanup_after_batch_output", "cleanup_after_success", "cleanup_after_failure",
                                "cleanup_after_cancel"}
    assert names["resources"] == {"app_db", "object_store", "personalize", "guardrails", "run_outputs"}
    assert "solution_version_quality" in {check["name"] for check in listed["asset_checks"]}


def test_dg_launch_materializes_an_asset_on_the_local_backend(dg_env, local_settings):
    run_dg(dg_env, "launch", "--assets", "users_csv")
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("users_csv"))
    assert event is not None
    written = list(Path(local_settings.local_root, "s3").rglob(f"{event.run_id}/users.csv"))
    assert len(written) == 1 and written[0].read_text().startswith("USER_ID,")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dg_dev_serves_the_ui(dg_env, tmp_path):
    port = _free_port()
    log = tmp_path / "dg-dev.log"
    with open(log, "w") as out:
        dev = subprocess.Popen([str(DG), "dev", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=dg_env,
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert dev.poll() is None, f"dg dev exited {dev.returncode}:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
                    info = json.load(response)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, f"dg dev did not answer in 180 s:\n{log.read_text()}"
                time.sleep(1)
        assert "dagster_webserver_version" in info
    finally:
        # SIGTERM is dagster dev's Ctrl-C: it stops its webserver and daemon, then exits.
        dev.send_signal(signal.SIGTERM)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
