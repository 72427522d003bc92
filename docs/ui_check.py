"""Pictures of the Dagster UI after two runs of the whole graph, and a check of what they show.

``python docs/ui_check.py`` (``make screenshots``) works in a fresh, temporary DAGSTER_HOME and RECSYS_LOCAL_ROOT
on the embedded default (nothing under .recsys is touched): it seeds the demo shop, starts ``dagster dev``,
launches ``daily_recs_job`` twice through the webserver's GraphQL API (two points in every plot), waits for
the runs and the cleanups their sensors request, and with headless Chromium (``/usr/bin/chromium``, driven by
Playwright: ``pip install -e '.[ui]'``) saves into docs/images/:

- ``asset-graph.png``: the global asset lineage, groups expanded;
- ``solution_version-metadata.png``, ``batch_output-metadata.png``: the latest materialization's metadata;
- ``solution_version-plots.png``: the asset's metadata plots over the two runs.

Each page is checked against the instance, not against names written here: the lineage must show every asset
the runs materialized, a metadata page every metadata key of the asset's latest materialization, the plots
every numeric one. Exits 1, saying what is missing, if a page lacks any or a run did not succeed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parent.parent
RUNS = 2
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
GOING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
         dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# The daily job takes ~1.5 min under `dagster dev` on two cores; these are generous bounds, not estimates.
RUN_TIMEOUT, STARTUP_TIMEOUT, PAGE_TIMEOUT = 900.0, 180.0, 30.0
WIDE, TALL = {"width": 1920, "height": 1080}, {"width": 1600, "height": 1400}


@dataclass(frozen=True)
class Shot:
    """A page to photograph, and the lines (whole, once stripped) its text must hold."""

    image: str
    path: str
    expect: tuple[str, ...]
    plots: bool = False  # switch the asset's metadata to its plots first
    viewport: dict | None = None


def numeric(metadata: dict[str, dg.MetadataValue]) -> list[str]:
    """The keys Dagster plots: int and float values (booleans are neither)."""
    return [k for k, v in metadata.items() if isinstance(v, (dg.IntMetadataValue, dg.FloatMetadataValue))]


def shots(assets: list[str], metadata: dict[str, dict[str, dg.MetadataValue]]) -> list[Shot]:
    """The pages, from what the instance holds: the materialized ``assets`` and each asset's latest metadata."""
    pages = [Shot("asset-graph.png", "/asset-groups", tuple(assets), viewport=WIDE)]
    for asset, entries in metadata.items():
        pages.append(Shot(f"{asset}-metadata.png", f"/assets/{asset}?view=events", tuple(entries), viewport=TALL))
    plotted = "solution_version"
    pages.append(Shot(f"{plotted}-plots.png", f"/assets/{plotted}", tuple(numeric(metadata[plotted])), plots=True,
                      viewport=TALL))
    return pages


def missing(text: str, expect: tuple[str, ...]) -> list[str]:
    """The expected lines a page's text lacks (cells and labels each come as a line of ``inner_text``)."""
    lines = {line.strip() for line in text.splitlines()}
    return [name for name in expect if name not in lines]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, **variables) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", method="POST",
                                     data=json.dumps({"query": query, "variables": variables}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL: {answer['errors']}")
    return answer["data"]


REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } jobs { name } } } } }"
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on Error { message } } }"""


def wait_for_webserver(port: int, server: subprocess.Popen, job: str) -> dict:
    """The job's selector once the webserver answers and has loaded the code location."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"dagster dev exited ({server.returncode})")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5).close()
            for repo in graphql(port, REPOSITORIES)["repositoriesOrError"].get("nodes", []):
                if job in {j["name"] for j in repo["jobs"]}:
                    return {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"],
                            "jobName": job}
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise RuntimeError(f"no webserver with {job} on port {port} after {STARTUP_TIMEOUT:.0f}s")


def launch(port: int, selector: dict) -> str:
    answer = graphql(port, LAUNCH, params={"selector": selector, "runConfigData": {}})["launchRun"]
    if answer["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun: {answer}")
    return answer["run"]["runId"]


def wait_until(what: str, ready, timeout: float = RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := ready():
            return value
        time.sleep(2)
    raise RuntimeError(f"{what}: not after {timeout:.0f}s")


def run_graph_twice(instance: dg.DagsterInstance, port: int, selector: dict) -> list[str]:
    """Problems: runs that did not succeed. Returns once the last run's end-of-run cleanup is done too, so
    no run is cut short when the webserver stops."""
    problems, last = [], None
    for _ in range(RUNS):
        last = launch(port, selector)
        print(f"launched {selector['jobName']} run {last}", flush=True)
        run = wait_until(f"run {last}", lambda: (r := instance.get_run_by_id(last)) and r.status in DONE and r)
        print(f"  {run.status.value}", flush=True)
        if run.status != dg.DagsterRunStatus.SUCCESS:
            problems.append(f"run {last} of {selector['jobName']}: {run.status.value}")
    ended = {"recsys/cleans-run": last, "dagster/sensor_name": "cleanup_after_success"}
    wait_until("the last run's cleanup", lambda: instance.get_runs(dg.RunsFilter(tags=ended)) and not
               instance.get_runs(dg.RunsFilter(statuses=GOING)))
    return problems


def latest_metadata(instance: dg.DagsterInstance, asset: str) -> dict[str, dg.MetadataValue]:
    [record] = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
    return dict(record.asset_materialization.metadata)


def photograph(port: int, pages: list[Shot], images: Path, chromium: str) -> list[str]:
    """Saves each page's PNG; returns what the pages lack."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        for number, shot in enumerate(pages):
            page = browser.new_page(viewport=shot.viewport)
            page.goto(f"http://127.0.0.1:{port}{shot.path}", wait_until="networkidle")
            if number == 0:  # a fresh instance greets its first visitor with a newsletter dialog
                try:
                    page.get_by_role("button", name="Skip").click(timeout=10_000)
                except PlaywrightTimeout:
                    pass
            if shot.path == "/asset-groups":
                # More room for the graph, so its nodes are drawn in full; then expand every group (⌥E).
                page.get_by_role("button", name="Hide navigation").click()
                page.locator("button:has([aria-label='panel_show_right'])").click()
                page.keyboard.press("Alt+e")
            if shot.plots:
                page.get_by_role("button", name="Plots").click()  # named with its icon: "asset_plot Plots"
            lacking = list(shot.expect)
            deadline = time.monotonic() + PAGE_TIMEOUT
            while lacking and time.monotonic() < deadline:
                page.wait_for_timeout(500)
                lacking = missing(page.inner_text("body"), shot.expect)
            page.wait_for_timeout(1000)  # let the last plot or edge finish drawing
            page.screenshot(path=images / shot.image)
            print(f"saved {images / shot.image}" + (f"; MISSING {', '.join(lacking)}" if lacking else ""))
            problems += [f"{shot.image} ({shot.path}) lacks {name}" for name in lacking]
            page.close()
        browser.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=REPO / "docs" / "images", help="where the PNGs go")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser Playwright drives")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"{args.chromium} not found (Debian: apt-get install chromium)")
        return 2
    args.images.mkdir(parents=True, exist_ok=True)
    # dagster dev stops on SIGINT (SIGTERM does the same). A shell running this in the background leaves SIGINT
    # ignored, and an ignored signal stays ignored in children: a handler of our own is reset in them instead.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="recsys-ui-") as tmp:
        home, root = Path(tmp, "dagster_home"), Path(tmp, "local")
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        # The embedded default, whatever this shell sets; schedules stopped, as `make dev` has them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
        env.update(DAGSTER_HOME=str(home), RECSYS_LOCAL_ROOT=str(root), RECSYS_AUTOMATION="stopped")
        subprocess.run([sys.executable, "-m", "recsys_assets.sample_data", "--database-url",
                        f"sqlite:///{root / 'demo.db'}"], cwd=REPO, env=env, check=True)
        # Created here first: storage that the webserver, the daemon and this process all create at once races.
        instance = dg.DagsterInstance.from_config(str(home))
        port, log = free_port(), Path(tmp, "dagster-dev.log")
        with open(log, "w") as out:
            server = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-m", "recsys_assets.definitions",
                                       "-h", "127.0.0.1", "-p", str(port)], cwd=REPO, env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            selector = wait_for_webserver(port, server, "daily_recs_job")
            problems = run_graph_twice(instance, port, selector)
            assets = sorted(key.to_user_string() for key in instance.get_asset_keys())
            metadata = {asset: latest_metadata(instance, asset) for asset in ("solution_version", "batch_output")}
            problems += photograph(port, shots(assets, metadata), args.images, args.chromium)
        except Exception as e:
            print("".join(log.read_text().splitlines(keepends=True)[-40:]), file=sys.stderr)
            problems = [f"{type(e).__name__}: {e}"]
        finally:
            instance.dispose()
            stop(server)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def stop(server: subprocess.Popen) -> None:
    """dagster dev stops its webserver, daemon and code servers on SIGTERM; if it doesn't, its process group goes."""
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
