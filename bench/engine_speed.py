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
  regularization, alpha and recency half-life fixed (engine hyperparameters): left on ``auto``, the
  engine would also train EASE and more iALS settings to choose on a validation split, which is not
  the model compared.
- Baseline: ``implicit``'s AlternatingLeastSquares (same factors, iterations and regularization) fitted
  on the binary user x item matrix, then ``recommend(N=500)`` for every user in batches of 5,000.
  Neither side excludes already-seen items (the engine job has no filter).

Each side runs in its own process; peak memory is that process's (and its children's) maximum RSS.
Exits 1 if engine time / baseline time exceeds 1.25.
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
FACTORS, ITERATIONS, REGULARIZATION, ALPHA = 64, 15, 10.0, 5.0
ROLE = "arn:aws:iam::123456789012:role/PersonalizeBench"
SCHEMA = {"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
          "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                     {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"}
SOLUTION_CONFIG = {"algorithmHyperParameters": {
    "algorithm": "ials", "ials_regularization": str(REGULARIZATION), "ials_alpha": str(ALPHA),
    "ials_half_life": "0.25"}}
POLL_SECONDS = 0.2


def _client(root: Path):
    from recsys_assets.engine import local_client
    from recsys_assets.engine.storage import LocalObjectStore

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
    from recsys_assets.engine.storage import LocalObjectStore

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


def run_engine(root: Path, solution: str) -> dict:
    """The timed engine part (in its own process: its workers are its children)."""
    from recsys_assets.engine import service

    client = _client(root)
    started = time.perf_counter()
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    trained = _wait(lambda: client.describe_solution_version(solutionVersionArn=version), "solutionVersion")
    training = time.perf_counter() - started
    job = client.create_batch_inference_job(
        jobName="bench-batch", solutionVersionArn=version, roleArn=ROLE, numResults=500,
        jobInput={"s3DataSource": {"path": "s3://bench/batch-in/"}},
        jobOutput={"s3DataDestination": {"path": "s3://bench/batch-out/"}})["batchInferenceJobArn"]
    _wait(lambda: client.describe_batch_inference_job(batchInferenceJobArn=job), "batchInferenceJob")
    total = time.perf_counter() - started
    for proc in service._CHILDREN:  # reap the workers so their peak memory is counted
        proc.wait()
    output = root / "s3" / "bench" / "batch-out" / "users.json.out"
    with open(output, "rb") as f:
        first = json.loads(f.readline())
    metrics = client.get_solution_metrics(solutionVersionArn=version)["metrics"]
    return {"seconds": total, "training_seconds": training, "batch_seconds": total - training,
            "training_hours": trained.get("trainingHours"), "output_bytes": output.stat().st_size,
            "first_line_items": len(first["output"]["recommendedItems"]),
            "ndcg_at_10": metrics["normalized_discounted_cumulative_gain_at_10"],
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6}


def run_baseline(path: Path) -> dict:
    """implicit directly: fit and top-500 for every user (in its own process)."""
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with np.load(path) as arrays:
        users, items, shape = arrays["users"], arrays["items"], tuple(arrays["shape"])
    matrix = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=shape)
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
    parser.add_argument("--engine-part", nargs=2, metavar=("ROOT", "SOLUTION"), help=argparse.SUPPRESS)
    parser.add_argument("--baseline-part", metavar="NPZ", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine_part:
        print(json.dumps(run_engine(Path(args.engine_part[0]), args.engine_part[1])))
        return 0
    if args.baseline_part:
        print(json.dumps(run_baseline(Path(args.baseline_part))))
        return 0

    started = time.perf_counter()
    interactions = clustered_catalogue(args.users, args.items, args.interactions)
    print(f"data: {interactions['USER_ID'].nunique():,} users x {interactions['ITEM_ID'].nunique():,} items, "
          f"{len(interactions):,} interactions ({time.perf_counter() - started:.0f}s to generate)", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        users, user_ids = pd.factorize(interactions["USER_ID"])
        items, item_ids = pd.factorize(interactions["ITEM_ID"])
        np.savez(root / "baseline.npz", users=users, items=items, shape=np.array([len(user_ids), len(item_ids)]))
        started = time.perf_counter()
        solution = prepare_engine(root, interactions)["solution"]
        print(f"engine set-up (import, solution, batch input; untimed): {time.perf_counter() - started:.0f}s", flush=True)
        del interactions
        baseline = _in_process("--baseline-part", str(root / "baseline.npz"))
        engine = _in_process("--engine-part", str(root), solution)

    ratio = engine["seconds"] / baseline["seconds"]
    print(f"\n{'':34s}{'total s':>9s}{'train s':>9s}{'top-500 s':>11s}{'peak RSS GB':>13s}")
    print(f"{'implicit directly (fit+recommend)':34s}{baseline['seconds']:9.1f}{baseline['training_seconds']:9.1f}"
          f"{baseline['batch_seconds']:11.1f}{baseline['peak_rss_gb']:13.2f}")
    print(f"{'engine API (version + batch job)':34s}{engine['seconds']:9.1f}{engine['training_seconds']:9.1f}"
          f"{engine['batch_seconds']:11.1f}{engine['peak_rss_gb']:13.2f}")
    print(f"\nengine: trainingHours {engine['training_hours']}, GetSolutionMetrics NDCG@10 {engine['ndcg_at_10']}, "
          f"batch output {engine['output_bytes'] / 1e9:.2f} GB, {engine['first_line_items']} items per line")
    print(f"ratio engine / implicit: {ratio:.3f} (bar {BAR})")
    return 0 if ratio <= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
