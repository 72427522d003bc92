"""Speed: training plus top-500 batch inference for every user, through the engine's API, against
``implicit`` called directly.

``python -m bench.engine_speed [--users N --items M --interactions K]`` (default 100,000 x 10,000 x
2,000,000 distinct pairs, ``bench.engine_data.clustered_catalogue``).

- Engine: a real boto3 client of ``recsys_assets.engine.local_client`` on a temporary root,
  transition_seconds=0. Not timed: the FULL import of the interactions CSV, the solution, the batch
  input file (one ``{"userId"}`` line per user). Timed: CreateSolutionVersion until ACTIVE (training
  and GetSolutionMetrics' evaluation, in the engine's worker process), then CreateBatchInferenceJob
  with numResults 500 for all users until ACTIVE (JSON Lines written to the local S3 directory).
  The solution is aws-user-personalization-v2 with ``algorithm`` pinned to ials and its
  regularization, alpha, recency half-life and repeat settings fixed (engine hyperparameters): left on
  ``auto``, the engine would also train EASE and more iALS settings and choose on a validation split,
  which is not the model compared. Its lists are served as always, through the repeat/explore mixture
  (``engine.repeats``): that cost is the engine's.
- Baseline: the same model with ``implicit`` directly: AlternatingLeastSquares with the same factors,
  iterations and regularization, fitted on the same confidences the engine computes (1 + alpha
  log(1 + recency-weighted count), built before the clock starts), then ``recommend(N=500)`` for every
  user in batches of 5,000. Neither side excludes already-seen items (the engine job has no filter).

Each side runs in its own process; peak memory is that process's (and its children's) maximum RSS.
The sides alternate over ``--rounds`` rounds (default 5, the first starting with implicit: the same
fit varies by 20 % between runs on a small VM); exits 1 if the engine's total time over implicit's
exceeds 1.25.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.engine_data import clustered_catalogue

BAR = 1.25
FACTORS, ITERATIONS, REGULARIZATION, ALPHA, HALF_LIFE = 64, 15, 10.0, 5.0, 0.25
ROLE = "arn:aws:iam::123456789012:role/PersonalizeBench"
SCHEMA = {"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
          "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                     {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"}
SOLUTION_CONFIG = {"algorithmHyperParameters": {
    "algorithm": "ials", "ials_regularization": str(REGULARIZATION), "ials_alpha": str(ALPHA),
    "ials_half_life": str(HALF_LIFE), "repeat_weight": "1", "repeat_half_life": "20"}}
# Polling adds 0.1 s per job on average; every 50 ms it took 5 % of a core from the training.
POLL_SECONDS = 0.2


def _client(root: Path):
    from recsys_assets.engine import local_client
    from recsys_assets.storage import LocalObjectStore

    return local_client(root / "engine", LocalObjectStore(root / "s3").config(), transition_seconds=0.0)


def _wait(describe, key: str) -> dict:
    while True:
        resource_ = describe()[key]
        if resource_["status"] in ("ACTIVE", "CREATE FAILED"):
            if resource_["status"] != "ACTIVE":
                raise RuntimeError(f"{key} failed: {resource_.get('failureReason')}")
            return resource_
        time.sleep(POLL_SECONDS)


def prepare_engine(root: Path, interactions: pd.DataFrame) -> dict:
    """Import the data and create the solution and the batch input (all untimed)."""
    from recsys_assets.storage import LocalObjectStore

    store = LocalObjectStore(root / "s3")
    store.write_bytes("s3://bench/interactions.csv", interactions.to_csv(index=False).encode())
    users = interactions["USER_ID"].unique()
    store.write_bytes("s3://bench/batch-in/users.json", "".join(f'{{"userId": "{u}"}}\n' for u in users).encode())
    client = _client(root)
    group = client.create_dataset_group(name="bench")["datasetGroupArn"]
    schema = client.create_schema(name="bench-interactions", schema=json.dumps(SCHEMA))["schemaArn"]
    dataset = client.create_dataset(name="bench-interactions", schemaArn=schema, datasetGroupArn=group,
                                    datasetType="Interactions")["datasetArn"]
    job = client.create_dataset_import_job(jobName="bench-import", datasetArn=dataset, roleArn=ROLE,
                                           dataSource={"dataLocation": "s3://bench/interactions.csv"})
    _wait(lambda: client.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"]),
          "datasetImportJob")
    solution = client.create_solution(name="bench", datasetGroupArn=group, performAutoTraining=False,
                                      recipeArn="arn:aws:personalize:::recipe/aws-user-personalization-v2",
                                      solutionConfig=SOLUTION_CONFIG)["solutionArn"]
    _wait(lambda: client.describe_solution(solutionArn=solution), "solution")
    return {"solution": solution}


def run_engine(root: Path, solution: str, round_: int) -> dict:
    """The timed engine part (in its own process: its workers are its children)."""
    import shutil

    from recsys_assets.engine import lifecycle

    client = _client(root)
    started = time.perf_counter()
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    trained = _wait(lambda: client.describe_solution_version(solutionVersionArn=version), "solutionVersion")
    training = time.perf_counter() - started
    job = client.create_batch_inference_job(
        jobName=f"bench-batch-{round_}", solutionVersionArn=version, roleArn=ROLE, numResults=500,
        jobInput={"s3DataSource": {"path": "s3://bench/batch-in/"}},
        jobOutput={"s3DataDestination": {"path": f"s3://bench/batch-out-{round_}/"}})["batchInferenceJobArn"]
    _wait(lambda: client.describe_batch_inference_job(batchInferenceJobArn=job), "batchInferenceJob")
    total = time.perf_counter() - started
    for proc in lifecycle.CHILDREN:  # reap the workers so their peak memory is counted
        proc.wait()
    output = root / "s3" / "bench" / f"batch-out-{round_}" / "users.json.out"
    with open(output, "rb") as f:
        first = json.loads(f.readline())
    size = output.stat().st_size
    shutil.rmtree(output.parent)
    metrics = client.get_solution_metrics(solutionVersionArn=version)["metrics"]
    return {"seconds": total, "training_seconds": training, "batch_seconds": total - training,
            "training_hours": trained.get("trainingHours"), "output_bytes": size,
            "first_line_items": len(first["output"]["recommendedItems"]),
            "ndcg_at_10": metrics["normalized_discounted_cumulative_gain_at_10"],
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6}


def run_baseline(path: Path) -> dict:
    """implicit directly: fit and top-500 for every user (in its own process)."""
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with np.load(path) as arrays:
        users, items, times, shape = arrays["users"], arrays["items"], arrays["times"], tuple(arrays["shape"])
    # The engine's confidences for this solution: each event weighs 1/2 per HALF_LIFE x the time span
    # back from the newest; c = 1 + alpha log(1 + summed weight).
    decay = 0.5 ** ((times.max() - times) / (HALF_LIFE * max(times.max() - times.min(), 1)))
    matrix = sp.csr_matrix((decay.astype(np.float32), (users, items)), shape=shape)
    matrix.data = (1.0 + ALPHA * np.log1p(matrix.data)).astype(np.float32)
    started = time.perf_counter()
    with threadpool_limits(1, "blas"):  # as implicit recommends
        model = AlternatingLeastSquares(factors=FACTORS, iterations=ITERATIONS, regularization=REGULARIZATION,
                                        dtype=np.float32, random_state=0)
        model.fit(matrix, show_progress=False)
        fitted = time.perf_counter() - started
        every_user = np.arange(shape[0])
        for start in range(0, shape[0], 5000):
            batch = every_user[start:start + 5000]
            model.recommend(batch, matrix[batch], N=500, filter_already_liked_items=False)
    total = time.perf_counter() - started
    return {"seconds": total, "training_seconds": fitted, "batch_seconds": total - fitted,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def _in_process(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "bench.engine_speed", *args], check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed rounds, alternating which side goes first (default 5)")
    parser.add_argument("--engine-part", nargs=3, metavar=("ROOT", "SOLUTION", "ROUND"), help=argparse.SUPPRESS)
    parser.add_argument("--baseline-part", metavar="NPZ", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine_part:
        print(json.dumps(run_engine(Path(args.engine_part[0]), args.engine_part[1], int(args.engine_part[2]))))
        return 0
    if args.baseline_part:
        print(json.dumps(run_baseline(Path(args.baseline_part))))
        return 0

    started = time.perf_counter()
    interactions = clustered_catalogue(args.users, args.items, args.interactions)
    print(f"data: {interactions['USER_ID'].nunique():,} users x {interactions['ITEM_ID'].nunique():,} items, "
          f"{len(interactions):,} interactions ({time.perf_counter() - started:.0f}s to generate)", flush=True)
    runs: dict[str, list[dict]] = {"implicit": [], "engine": []}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        users, user_ids = pd.factorize(interactions["USER_ID"])
        items, item_ids = pd.factorize(interactions["ITEM_ID"])
        np.savez(root / "baseline.npz", users=users, items=items, times=interactions["TIMESTAMP"].to_numpy(np.float64),
                 shape=np.array([len(user_ids), len(item_ids)]))
        started = time.perf_counter()
        solution = prepare_engine(root, interactions)["solution"]
        print(f"engine set-up (import, solution, batch input; untimed): {time.perf_counter() - started:.0f}s", flush=True)
        del interactions
        parts = {"implicit": ("--baseline-part", str(root / "baseline.npz")),
                 "engine": ("--engine-part", str(root), solution)}
        for round_ in range(args.rounds):
            # Alternating the order evens out drifts in the machine's load between the two sides.
            for side in ("implicit", "engine") if round_ % 2 == 0 else ("engine", "implicit"):
                extra = (str(round_),) if side == "engine" else ()
                runs[side].append(_in_process(*parts[side], *extra))
                print(f"round {round_ + 1} {side}: {runs[side][-1]['seconds']:.1f}s", flush=True)

    totals = {side: sum(r["seconds"] for r in rs) for side, rs in runs.items()}
    ratio = totals["engine"] / totals["implicit"]
    print(f"\n{'mean of ' + str(args.rounds) + ' rounds':34s}{'total s':>9s}{'train s':>9s}{'top-500 s':>11s}{'peak RSS GB':>13s}")
    for side, label in (("implicit", "implicit directly (fit+recommend)"), ("engine", "engine API (version + batch job)")):
        rs = runs[side]
        print(f"{label:34s}{totals[side] / len(rs):9.1f}{np.mean([r['training_seconds'] for r in rs]):9.1f}"
              f"{np.mean([r['batch_seconds'] for r in rs]):11.1f}{max(r['peak_rss_gb'] for r in rs):13.2f}")
    engine = runs["engine"][-1]
    print(f"\nengine: trainingHours {engine['training_hours']}, GetSolutionMetrics NDCG@10 {engine['ndcg_at_10']}, "
          f"batch output {engine['output_bytes'] / 1e9:.2f} GB, {engine['first_line_items']} items per line")
    per_round = [e["seconds"] / b["seconds"] for e, b in zip(runs["engine"], runs["implicit"])]
    print("per round engine/implicit: " + ", ".join(f"{r:.3f}" for r in per_round))
    print(f"ratio engine / implicit (total time): {ratio:.3f} (bar {BAR})")
    return 0 if ratio <= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
