"""Quality: the lists the engine serves, as a user gets them, against simple baselines tuned here.

``python -m bench.engine_quality`` (options: ``--builtin NAME ...`` to pick the generated data sets,
``--interactions-csv PATH [--items-csv PATH]`` for your own data, ``--no-hpo`` to skip ``engine+hpo``).

Data sets (``bench.engine_data``):

- ``demo``: the demo shop (views, clicks, likes, purchases with values; items with a category and price);
- ``power-law``: a Zipf catalogue of sparse users whose tastes drift over time (interactions only);
- ``ratings``: a ratings site: no repeats, long histories for part of the users;
- ``shop``: an e-commerce event log: sessions of views, carts, favourites and purchases, repeat views
  and re-purchases (items with a category and price).

Protocol: each user with at least 10 events has their newest 20 % (round(0.2 n), ties in time in
input order) held out; everything else is the training data. A user's truth is the distinct held-out
items that the training data knows, repeats of their history included; users with an empty truth are
not scored. NDCG@10 (binary, ideal DCG of min(10, |truth|) hits, as ``engine.metrics``), Recall@20
(hits in the top 20 / min(20, |truth|)) and coverage (the training catalogue's share served in
someone's top 10).

The engine: a real boto3 client of ``recsys_assets.engine.local_client`` on a temporary root; the
training data imported (Interactions, and Items where the data set has them), an
aws-user-personalization-v2 solution with no solutionConfig (``engine``) and one with performHPO
(``engine+hpo``, on by default: it trains in about the time of ``engine``), a solution version of
each (timed until ACTIVE), then a batch inference job of each (numResults 25, no filter) for the
scored users; their ``recommendedItems`` are the lists scored. Where the data has purchase events,
``engine+filter`` is the same version served through ``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE
IN ("purchase")``: the evidence for the pipeline's default of no filter.

Baselines (numpy, scipy, ``implicit``), ranking the whole training catalogue: ``popularity`` (distinct
users); ``ials`` (AlternatingLeastSquares on event counts) and ``ease`` (binary), each over a grid and
with or without the user's history masked; ``history`` (the user's items by count, then recency, then
popular ones); ``blend`` (the user's top h history items, then the best masked iALS/EASE model's, h
tuned). Tuning: the scored users' newest 20 % of training events are the validation truth (same
rules); each setting is fitted on the rest, the best on validation NDCG@10 refitted on all training
data.

Bars (exit 1 if one is missed), on NDCG@10 per data set: engine >= 1.05x the best baseline; engine >=
1.5x popularity where a baseline beats popularity; engine+hpo >= engine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys_assets.engine.kernels import top_k
from recsys_assets.engine.recipes.preparation import Events

RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
ROLE = "arn:aws:iam::123456789012:role/PersonalizeBench"
BUILTIN = {"demo": "demo_data", "power-law": "drifting_catalogue", "ratings": "ratings_catalogue",
           "shop": "shop_event_log"}
IALS_GRID = [dict(factors=f, regularization=r, alpha=a)
             for f, r, a in itertools.product((64, 128), (1.0, 10.0, 100.0), (1.0, 10.0, 40.0))]
EASE_GRID = [dict(l2=l2) for l2 in (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)]
BLEND_HEADS = (0, 1, 2, 3, 5, 10, 25)
HOLDOUT, MIN_EVENTS = 0.2, 10
K, RECALL_K, NUM_RESULTS = 10, 20, 25
BLOCK = 2000  # users scored at once (a dense block of users x catalogue)
POLL_SECONDS = 0.2
BAR_BEST, BAR_POPULARITY = 1.05, 1.5
# What the pipeline used to filter by default (README, "Choosing a recipe and a filter"): scored as engine+filter.
NO_REPURCHASE = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
MODELS = ("engine", "engine+hpo", "engine+filter", "popularity", "ials", "ease", "history", "blend")


# ---- the protocol ---------------------------------------------------------------------------------

@dataclass
class Split:
    """The ``fit`` events train; ``users`` (codes, ascending) are scored against ``truth`` (users x items)."""

    events: Events
    fit: np.ndarray
    users: np.ndarray
    truth: sp.csr_matrix

    @cached_property
    def counts(self) -> sp.csr_matrix:
        return self.events.matrix(np.ones(len(self.fit), dtype=np.float32), self.fit)

    @cached_property
    def known(self) -> np.ndarray:
        return np.bincount(self.events.item[self.fit], minlength=len(self.events.item_ids)) > 0


def holdout(events: Events, keep: np.ndarray, users: np.ndarray) -> Split:
    """``users``' newest 20 % of their ``keep`` events held out; the truth is their distinct held-out
    items known to the rest of ``keep``."""
    held = events.newest(users, keep, HOLDOUT)
    fit = keep & ~held
    judged = held & (np.bincount(events.item[fit], minlength=len(events.item_ids)) > 0)[events.item]
    scored = np.unique(events.user[judged])
    truth = sp.csr_matrix((np.ones(judged.sum(), dtype=np.float32),
                           (np.searchsorted(scored, events.user[judged]), events.item[judged])),
                          shape=(len(scored), len(events.item_ids)))
    truth.data[:] = 1.0
    return Split(events, fit, scored, truth)


def evaluate(split: Split, top: np.ndarray) -> dict[str, float]:
    """NDCG@10, Recall@20 and coverage of ``top`` (a list of item codes per scored user, -1 padded)."""
    n_items = split.truth.shape[1]
    truth = split.truth.tocoo()
    keys = np.where(top >= 0, np.arange(len(top))[:, None] * n_items + top, -1)
    hits = np.isin(keys[:, :RECALL_K], truth.row.astype(np.int64) * n_items + truth.col)
    size = split.truth.getnnz(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    ndcg = hits[:, :K] @ discounts / np.cumsum(discounts)[np.minimum(K, size) - 1]
    known = split.known
    served = np.unique(top[:, :K][top[:, :K] >= 0])
    return {"ndcg": float(ndcg.mean()), "recall": float(np.mean(hits.sum(axis=1) / np.minimum(RECALL_K, size))),
            "coverage": float(known[served].sum() / known.sum())}


# ---- baselines ------------------------------------------------------------------------------------

def ials(x: sp.csr_matrix, *, factors: int, regularization: float, alpha: float):
    from implicit.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):  # as implicit recommends
        model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                        iterations=15, dtype=np.float32, random_state=0)
        model.fit(x, show_progress=False)
    users, items = model.user_factors, model.item_factors
    return lambda rows: users[rows] @ items.T


def ease(x: sp.csr_matrix, *, l2: float):
    binary = sp.csr_matrix(x, dtype=np.float32)
    binary.data[:] = 1.0
    gram = (binary.T @ binary).toarray()
    gram[np.diag_indices_from(gram)] += l2
    p = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    b = p / -np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return lambda rows: np.asarray(binary[rows] @ b)


def popularity(x: sp.csr_matrix):
    users = np.asarray((x > 0).sum(axis=0), dtype=np.float32).ravel()
    return lambda rows: np.broadcast_to(users, (len(rows), len(users)))


def ranked(split: Split, scores, masked: bool) -> np.ndarray:
    """Each scored user's top 20 of the training catalogue by ``scores(user codes)``; ``masked``: none
    of their history."""
    unknown = ~split.known
    history = split.counts[split.users]
    tops = []
    for start in range(0, len(split.users), BLOCK):
        block = np.array(scores(split.users[start:start + BLOCK]), dtype=np.float32)
        block[:, unknown] = -np.inf
        if masked:
            block[history[start:start + BLOCK].toarray() > 0] = -np.inf
        items, values = top_k(block, RECALL_K)
        tops.append(np.where(np.isfinite(values), items, -1))
    return np.concatenate(tops)


def history_lists(split: Split) -> np.ndarray:
    """Each scored user's top 20 history items by count, ties to the newest last interaction."""
    events = split.events
    (index,) = np.nonzero(split.fit & np.isin(events.user, split.users))
    index = index[np.lexsort((index, events.time[index]))]  # oldest first; position = recency
    pairs = pd.DataFrame({"user": events.user[index], "item": events.item[index], "recency": np.arange(len(index))})
    pairs = pairs.groupby(["user", "item"], sort=False)["recency"].agg(["size", "max"]).reset_index()
    pairs = pairs.sort_values(["user", "size", "max"], ascending=[True, False, False])
    rank = pairs.groupby("user").cumcount().to_numpy()
    keep = rank < RECALL_K
    lists = np.full((len(split.users), RECALL_K), -1, dtype=np.int64)
    lists[np.searchsorted(split.users, pairs["user"].to_numpy()[keep]), rank[keep]] = pairs["item"].to_numpy()[keep]
    return lists


def blend(head: np.ndarray, top: np.ndarray, h: int) -> np.ndarray:
    """The first ``h`` of ``head`` then ``top`` (which holds none of them), -1s moved to the end."""
    lists = np.concatenate([head[:, :h], top], axis=1)
    return np.take_along_axis(lists, np.argsort(lists < 0, axis=1, kind="stable"), axis=1)[:, :RECALL_K]


def baselines(test: Split) -> dict[str, dict]:
    """Each baseline's test metrics, fit seconds and chosen setting, tuned on a validation split."""
    validation = holdout(test.events, test.fit, test.users)
    grids = {"ials": (ials, IALS_GRID), "ease": (ease, EASE_GRID)}
    scored = {}  # (family, grid index, masked) -> validation NDCG@10
    masked_best = (-1.0, None, None)  # (NDCG, key, validation lists) of the best masked model
    for family, (fit, grid) in grids.items():
        started = time.time()
        for i, point in enumerate(grid):
            scores = fit(validation.counts, **point)
            for masked in (False, True):
                top = ranked(validation, scores, masked)
                scored[family, i, masked] = evaluate(validation, top)["ndcg"]
                if masked and scored[family, i, masked] > masked_best[0]:
                    masked_best = (scored[family, i, masked], (family, i, masked), top)
        print(f"  tuned {family} over {len(grid)} x 2 settings: {time.time() - started:.0f}s", flush=True)
    head = history_lists(validation)
    h = max(BLEND_HEADS, key=lambda h: evaluate(validation, blend(head, masked_best[2], h))["ndcg"])

    refits = {}

    def fitted(key):
        """(test lists, fit seconds, setting) of the ``key`` model refitted on all training data."""
        if key not in refits:
            family, i, masked = key
            started = time.time()
            scores = grids[family][0](test.counts, **grids[family][1][i])
            seconds = time.time() - started
            setting = " ".join(f"{name}={value:g}" for name, value in grids[family][1][i].items())
            refits[key] = (ranked(test, scores, masked), seconds, f"{setting}{' masked' if masked else ''}")
        return refits[key]

    started = time.time()
    scores = popularity(test.counts)
    seconds = time.time() - started
    popular, head = ranked(test, scores, False), history_lists(test)
    lists = {"popularity": (popular, seconds, ""),
             "history": (blend(head, ranked(test, scores, True), RECALL_K), seconds, "")}
    for family in grids:
        lists[family] = fitted(max((k for k in scored if k[0] == family), key=scored.get))
    top, seconds, setting = fitted(masked_best[1])
    lists["blend"] = (blend(head, top, h), seconds, f"h={h} over {masked_best[1][0]} {setting}")
    return {name: evaluate(test, top) | {"seconds": seconds, "setting": setting}
            for name, (top, seconds, setting) in lists.items()}


# ---- the engine ----------------------------------------------------------------------------------

def _avro(name: str, frame: pd.DataFrame) -> str:
    def field(column: str) -> dict:
        if column in ("USER_ID", "ITEM_ID", "EVENT_TYPE"):
            return {"name": column, "type": "string"}
        if column == "TIMESTAMP":
            return {"name": column, "type": "long"}
        kind = ({"type": "float"} if pd.api.types.is_numeric_dtype(frame[column])
                else {"type": "string", "categorical": True})
        if column == "EVENT_VALUE" or frame[column].hasnans:
            kind["type"] = ["null", kind["type"]]
        return {"name": column} | kind

    return json.dumps({"type": "record", "name": name, "namespace": "com.amazonaws.personalize.schema",
                       "fields": [field(c) for c in frame.columns], "version": "1.0"})


def _wait(describe, key: str) -> dict:
    while (resource := describe()[key])["status"] not in ("ACTIVE", "CREATE FAILED"):
        time.sleep(POLL_SECONDS)
    if resource["status"] != "ACTIVE":
        raise RuntimeError(f"{key} failed: {resource.get('failureReason')}")
    return resource


def engine(interactions: pd.DataFrame, items: pd.DataFrame | None, users: np.ndarray, hpo: bool) -> dict[str, tuple]:
    """{"engine"[, "engine+hpo"][, "engine+filter"]: (the served lists of ``users``, training seconds)} through the API."""
    from recsys_assets.engine import local_client
    from recsys_assets.storage import LocalObjectStore

    served = {}
    purchases = "EVENT_TYPE" in interactions and (interactions["EVENT_TYPE"] == "purchase").any()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as folder:
        root = Path(folder)
        store = LocalObjectStore(root / "s3")
        client = local_client(root / "engine", store.config(), transition_seconds=0.0)
        group = client.create_dataset_group(name="bench")["datasetGroupArn"]
        for kind, frame in (("Interactions", interactions), ("Items", items)):
            if frame is None:
                continue
            store.write_bytes(f"s3://bench/{kind}.csv", frame.to_csv(index=False).encode())
            schema = client.create_schema(name=kind, schema=_avro(kind, frame))["schemaArn"]
            dataset = client.create_dataset(name=kind, schemaArn=schema, datasetGroupArn=group,
                                            datasetType=kind)["datasetArn"]
            job = client.create_dataset_import_job(jobName=kind, datasetArn=dataset, roleArn=ROLE,
                                                   dataSource={"dataLocation": f"s3://bench/{kind}.csv"})
            _wait(lambda: client.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"]),
                  "datasetImportJob")
        store.write_bytes("s3://bench/in/users.json", "".join(json.dumps({"userId": u}) + "\n" for u in users).encode())
        for name in ("engine", "engine+hpo")[:1 + hpo]:
            tag = name.replace("+", "-")
            solution = client.create_solution(name=tag, datasetGroupArn=group, recipeArn=RECIPE,
                                              performAutoTraining=False, performHPO=name == "engine+hpo")["solutionArn"]
            _wait(lambda: client.describe_solution(solutionArn=solution), "solution")
            started = time.time()
            version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
            _wait(lambda: client.describe_solution_version(solutionVersionArn=version), "solutionVersion")
            seconds = time.time() - started
            print(f"  {name}: trained in {seconds:.0f}s", flush=True)
            jobs = {name: None}
            if name == "engine" and purchases:  # the same version, filtered
                jobs["engine+filter"] = client.create_filter(name="no-repurchase", datasetGroupArn=group,
                                                             filterExpression=NO_REPURCHASE)["filterArn"]
                _wait(lambda: client.describe_filter(filterArn=jobs["engine+filter"]), "filter")
            for served_as, filter_arn in jobs.items():
                tag = served_as.replace("+", "-")
                job = client.create_batch_inference_job(
                    jobName=tag, solutionVersionArn=version, roleArn=ROLE, numResults=NUM_RESULTS,
                    jobInput={"s3DataSource": {"path": "s3://bench/in/"}},
                    jobOutput={"s3DataDestination": {"path": f"s3://bench/{tag}/"}},
                    **({"filterArn": filter_arn} if filter_arn else {}))["batchInferenceJobArn"]
                _wait(lambda: client.describe_batch_inference_job(batchInferenceJobArn=job), "batchInferenceJob")
                lines = [json.loads(line) for line in store.read_bytes(f"s3://bench/{tag}/users.json.out").splitlines()]
                lists = {line["input"]["userId"]: (line.get("output") or {}).get("recommendedItems", [])
                         for line in lines}
                served[served_as] = ([lists.get(u, []) for u in users], seconds)
    return served


def codes(lists: list[list[str]], item_ids: np.ndarray) -> np.ndarray:
    """Served item ids as codes (-1 for an item the data does not know, and as padding)."""
    top = np.full((len(lists), RECALL_K), -1, dtype=np.int64)
    index = pd.Index(item_ids)
    for row, items in enumerate(lists):
        top[row, :min(len(items), RECALL_K)] = index.get_indexer(items[:RECALL_K])
    return top


# ---- the run -------------------------------------------------------------------------------------

def run(name: str, interactions: pd.DataFrame, items: pd.DataFrame | None, hpo: bool) -> dict[str, dict]:
    columns = [c for c in ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE") if c in interactions]
    interactions = interactions[columns].reset_index(drop=True)
    events = Events.from_frame(interactions, np.ones(len(interactions), dtype=np.float32))
    everyone = np.flatnonzero(np.bincount(events.user) >= MIN_EVENTS)
    test = holdout(events, np.ones(len(interactions), dtype=bool), everyone)
    truth = test.truth.tocoo()
    repeats = np.asarray(test.counts[test.users][truth.row, truth.col]).ravel() > 0
    print(f"\n{name}: {len(events.user_ids):,} users, {len(events.item_ids):,} items, {len(interactions):,} events; "
          f"{len(test.users):,} users scored, held-out repeat share {repeats.mean():.2f}", flush=True)
    results = {model: evaluate(test, codes(lists, events.item_ids)) | {"seconds": seconds, "setting": ""}
               for model, (lists, seconds) in engine(interactions.iloc[np.flatnonzero(test.fit)], items,
                                                      events.user_ids[test.users], hpo).items()}
    results |= baselines(test)
    print("  NDCG@10 " + "  ".join(f"{m} {results[m]['ndcg']:.4f}" for m in MODELS if m in results), flush=True)
    for model in ("ials", "ease", "blend"):
        print(f"  {model} kept: {results[model]['setting']}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--builtin", nargs="*", choices=BUILTIN, default=list(BUILTIN),
                        help="the generated data sets to run (default all; none with only CSVs)")
    parser.add_argument("--interactions-csv", action="append", default=[],
                        help="an Interactions CSV (USER_ID, ITEM_ID, TIMESTAMP[, EVENT_TYPE, EVENT_VALUE]) to run on")
    parser.add_argument("--items-csv", action="append", default=[],
                        help="the Items CSV of the --interactions-csv in the same position (optional)")
    parser.add_argument("--hpo", action=argparse.BooleanOptionalAction, default=True,
                        help="also train and score a performHPO solution, engine+hpo (default on)")
    args = parser.parse_args(argv)
    sets = []
    for name in args.builtin:
        def load(name=name):
            from bench import engine_data

            data = getattr(engine_data, BUILTIN[name])()
            return data if isinstance(data, tuple) else (data, None)
        sets.append((name, load))
    for n, path in enumerate(args.interactions_csv):
        items = args.items_csv[n] if n < len(args.items_csv) else None
        sets.append((path, lambda path=path, items=items: (
            pd.read_csv(path, dtype={"USER_ID": str, "ITEM_ID": str}),
            pd.read_csv(items, dtype={"ITEM_ID": str}) if items else None)))

    started = time.time()
    results = {name: run(name, *load(), args.hpo) for name, load in sets}
    models = [m for m in MODELS if any(m in r for r in results.values())]
    baseline_names = [m for m in models if not m.startswith("engine")]
    table = {measure: pd.DataFrame({m: {name: r[m][measure] for name, r in results.items() if m in r} for m in models})
             for measure in ("ndcg", "recall", "coverage", "seconds", "setting")}
    ndcg = table["ndcg"]
    ndcg["best"] = ndcg[baseline_names].idxmax(axis=1)
    ndcg["vs_best"] = ndcg["engine"] / ndcg[baseline_names].max(axis=1)
    ndcg["vs_pop"] = ndcg["engine"] / ndcg["popularity"]
    print(f"\ntotal {time.time() - started:.0f}s; engine = {RECIPE.rsplit('/', 1)[1]} through the API")
    for measure, title, digits in (("ndcg", "NDCG@10", 4), ("recall", "Recall@20", 4), ("coverage", "coverage@10", 4),
                                   ("seconds", "training seconds (engine: version to ACTIVE; baselines: final fit)", 1)):
        print(f"\n{title}\n{table[measure].to_string(float_format=lambda v: f'{v:.{digits}f}')}")
    print(f"\nsettings kept on validation\n{table['setting'][['ials', 'ease', 'blend']].to_string()}")

    bars = []
    for name, row in ndcg.iterrows():
        bars.append((f"{name}: engine / best baseline ({row['best']}) = {row['vs_best']:.3f} >= {BAR_BEST}",
                     row["vs_best"] >= BAR_BEST))
        if row[[m for m in baseline_names if m != "popularity"]].max() > row["popularity"]:
            bars.append((f"{name}: engine / popularity = {row['vs_pop']:.2f} >= {BAR_POPULARITY}",
                         row["vs_pop"] >= BAR_POPULARITY))
        if args.hpo:
            bars.append((f"{name}: engine+hpo {row['engine+hpo']:.4f} >= engine {row['engine']:.4f}",
                         row["engine+hpo"] >= row["engine"]))
    print()
    for text, ok in bars:
        print(f"{'OK' if ok else 'MISSED'}: {text}")
    return 0 if all(ok for _, ok in bars) else 1

if __name__ == "__main__":
    sys.exit(main())
