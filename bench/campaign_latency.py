"""Latency of a warm campaign: GetRecommendations (top 25) through a real boto3 ``personalize-runtime`` client
of the local engine, against the bare model call in the same process.

    PYTHONPATH=. .venv/bin/python -m bench.campaign_latency [--users N --items M --requests K]

The model is an iALS-shaped ``FactorModel`` (default 100,000 users x 10,000 items, 64 factors, random
factors: latency does not depend on what was learned) saved where training would write it, for a solution
version inserted into a temporary engine's catalog and deployed with CreateCampaign; training is not what is
measured. After one warm-up request (the model loads into the per-process cache), ``--requests`` requests for
random known users are timed one by one: the whole client call (botocore serializing, validating and
parsing, the engine's catalog transaction, the scoring) and, as the baseline, ``Model.top_items`` for the
same users. Prints p50/p99 of both and their ratio; exits 1 if the client's p50 is above ``--bar-ms``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_assets.engine.catalog import Catalog, Resource
from recsys_assets.engine.data import DataStore
from recsys_assets.engine.models import FactorModel
from recsys_assets.engine.transport import local_client, local_runtime_client
from recsys_assets.storage import LocalObjectStore

RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"
FACTORS = 64


def build_model(users: int, items: int, seed: int = 7) -> FactorModel:
    rng = np.random.default_rng(seed)
    per_user = min(20, items)  # 20 interactions per user, as a 2M-interaction catalogue has
    rows = np.repeat(np.arange(users), per_user)
    seen = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, rng.integers(0, items, len(rows)))),
                         shape=(users, items), dtype=bool)
    return FactorModel(
        recipe_arn=RECIPE, has_scores=True, item_ids=[f"item{j}" for j in range(items)],
        user_ids=[f"user{i}" for i in range(users)], seen=seen,
        popularity=np.asarray(seen.sum(axis=0)).ravel(), hyperparameters={},
        user_factors=rng.normal(0, 0.1, (users, FACTORS)), item_factors=rng.normal(0, 0.1, (items, FACTORS)))


def deploy(root: Path, model: FactorModel) -> tuple[object, str]:
    store = LocalObjectStore(root / "s3").config()
    personalize = local_client(root / "engine", store)
    group = personalize.create_dataset_group(name="bench")["datasetGroupArn"]
    personalize.describe_dataset_group(datasetGroupArn=group)
    solution = personalize.create_solution(name="bench", datasetGroupArn=group, recipeArn=RECIPE)["solutionArn"]
    personalize.describe_solution(solutionArn=solution)
    version = f"{solution}/bench0001"
    path = DataStore(root / "engine").model_path(version)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    now = time.time()
    with Catalog(root / "engine" / "catalog.db").transaction() as txn:
        txn.insert(Resource(arn=version, kind="solution-version", name="", parent=solution, status="ACTIVE",
                            created=now, updated=now, body={"solutionArn": solution, "datasetGroupArn": group,
                                                            "recipeArn": RECIPE, "trainingMode": "FULL"},
                            internal={"model": str(path)}))
    campaign = personalize.create_campaign(name="bench", solutionVersionArn=version)["campaignArn"]
    assert personalize.describe_campaign(campaignArn=campaign)["campaign"]["status"] == "ACTIVE"
    return local_runtime_client(root / "engine", store), campaign


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--num-results", type=int, default=25)
    parser.add_argument("--bar-ms", type=float, default=10.0)
    args = parser.parse_args(argv)

    model = build_model(args.users, args.items)
    with tempfile.TemporaryDirectory() as tmp:
        runtime, campaign = deploy(Path(tmp), model)
        users = [f"user{u}" for u in np.random.default_rng(1).integers(0, args.users, args.requests)]
        started = time.perf_counter()
        runtime.get_recommendations(campaignArn=campaign, userId=users[0], numResults=args.num_results)
        cold = time.perf_counter() - started
        client, bare = [], []
        for user in users:
            t0 = time.perf_counter()
            runtime.get_recommendations(campaignArn=campaign, userId=user, numResults=args.num_results)
            t1 = time.perf_counter()
            model.top_items([user], args.num_results)
            client.append(t1 - t0)
            bare.append(time.perf_counter() - t1)
    c50, c99 = percentiles(client)
    b50, b99 = percentiles(bare)
    print(f"campaign: {args.users:,} users x {args.items:,} items, {FACTORS} factors; top {args.num_results}, "
          f"{args.requests} warm requests (first request, loading the model: {cold * 1000:.0f} ms)")
    print(f"GetRecommendations via boto3   p50 {c50:6.2f} ms   p99 {c99:6.2f} ms")
    print(f"Model.top_items (bare)         p50 {b50:6.2f} ms   p99 {b99:6.2f} ms")
    print(f"ratio client/bare              p50 {c50 / b50:6.1f} x    p99 {c99 / b99:6.1f} x")
    return 0 if c50 <= args.bar_ms else 1


if __name__ == "__main__":
    sys.exit(main())
