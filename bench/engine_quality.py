"""Quality: the engine's user-personalization against iALS and EASE tuned here, and popularity.

``python -m bench.engine_quality [--interactions-csv PATH [--items-csv PATH]] ...``. Data sets: the demo shop (5,000 users,
2,000 items, 200k events), a drifting power-law catalogue (20,000 users, 8,000 items, 300k events; see
``bench.engine_data``), and any Interactions CSV given (USER_ID, ITEM_ID, TIMESTAMP[, EVENT_TYPE, EVENT_VALUE]). Two protocols:

- ``engine``: GetSolutionMetrics' own split (10 % of users, their newest 10 % as truth). The engine's
  number is ``training.train_and_evaluate``'s NDCG@10; the baselines train on the same data and rank
  for the same test users.
- ``holdout``: every user's newest 20 % held out; all models (the engine's final model from
  ``train_and_evaluate`` on the rest) rank each user's unseen items.

The engine gets the Items dataset where there is one (the demo shop's categories), as a solution
would; the baselines use interactions only, as iALS and EASE do.

Baselines, with ``implicit`` and numpy directly: iALS on the (user, item) event-count matrix, tuned
over factors x regularization x alpha; EASE on the binary matrix, tuned over λ; popularity (distinct
users). Tuning is honest: each grid point trains without a validation split (the newest 10 % of the
training users' events) and the best on it is refitted on all training data. The engine recipe is
aws-user-personalization-v2 with its defaults. Exits 1 if, on any data set and protocol, the engine's
NDCG@10 is below either tuned baseline's or below 1.5x popularity's.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from bench.engine_data import demo_data, drifting_catalogue
from recsys_assets.engine import metrics, training
from recsys_assets.engine.recipes import catalogue, preparation
from recsys_assets.engine.kernels import top_k

RECIPE = catalogue.USER_PERSONALIZATION_V2.arn
IALS_GRID = [dict(factors=f, regularization=r, alpha=a) for f, r, a in itertools.product((64, 128), (1.0, 10.0, 100.0), (1.0, 10.0, 40.0))]
EASE_GRID = [dict(l2=l2) for l2 in (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)]
K = 10
HOLDOUT_SHARE = 0.2


def ials(x: sp.csr_matrix, *, factors: int, regularization: float, alpha: float):
    from implicit.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                        iterations=15, dtype=np.float32, random_state=0)
        model.fit(x, show_progress=False)
    users, items = model.user_factors, model.item_factors
    return lambda rows: users[rows] @ items.T


def ease(x: sp.csr_matrix, *, l2: float):
    binary = sp.csr_matrix(x, dtype=np.float32)
    binary.data[:] = 1.0
    gram = (binary.T @ binary).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += l2
    p = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    b = p / -np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return lambda rows: np.asarray(binary[rows] @ b)


def popularity(x: sp.csr_matrix):
    counts = np.asarray((x > 0).sum(axis=0)).ravel().astype(np.float32)
    return lambda rows: np.tile(counts, (len(rows), 1))


class Protocol:
    """Events, which are the truth, which users are ranked, and which training users validate tuning."""

    def __init__(self, name: str, events: preparation.Events, truth: np.ndarray, users: np.ndarray, tuning_users: np.ndarray):
        self.name, self.events, self.truth, self.users = name, events, truth, users
        self.train = ~truth
        self.validation = events.newest(tuning_users, self.train, 0.1)

    def counts(self, keep: np.ndarray) -> sp.csr_matrix:
        return self.events.matrix(np.ones(len(keep), dtype=np.float32), keep)

    def ndcg(self, scorer, keep: np.ndarray, users: np.ndarray, truth: np.ndarray) -> float:
        """NDCG@10 of ``scorer`` (trained on ``keep``) for ``users``, seen items excluded."""
        seen = self.counts(keep) > 0
        lists = []
        for start in range(0, len(users), 2000):
            rows = users[start:start + 2000]
            scores = np.asarray(scorer(rows), dtype=np.float32)
            scores[seen[rows].toarray()] = -np.inf
            top = top_k(scores, K)[0]
            lists += [self.events.item_ids[row].tolist() for row in top]
        return metrics.ranking_metrics(lists, _truth_sets(self.events, users, truth, seen))[
            "normalized_discounted_cumulative_gain_at_10"]

    def tuned(self, fit, grid) -> tuple[float, dict]:
        validation_users = np.unique(self.events.user[self.validation])
        fitting = self.train & ~self.validation
        scored = [(self.ndcg(fit(self.counts(fitting), **point), fitting, validation_users, self.validation), point)
                  for point in grid]
        best = max(scored, key=lambda s: s[0])[1]
        return self.ndcg(fit(self.counts(self.train), **best), self.train, self.users, self.truth), best


def _truth_sets(events: preparation.Events, users: np.ndarray, truth: np.ndarray, seen: sp.csr_matrix) -> list[set]:
    frame = pd.DataFrame({"user": events.user[truth], "item": events.item[truth]})
    by_user = frame.groupby("user")["item"].agg(set)
    return [{events.item_ids[i] for i in by_user.get(u, set()) if not seen[u, i]} for u in users.tolist()]


def engine_scores(interactions: pd.DataFrame, items: pd.DataFrame | None, protocol: Protocol) -> tuple[float, dict]:
    frame = interactions.iloc[np.flatnonzero(protocol.train)] if protocol.name == "holdout" else interactions
    model, solution_metrics = training.train_and_evaluate(RECIPE, preparation.TrainingData(frame, items=items))
    if protocol.name == "engine":
        return solution_metrics["normalized_discounted_cumulative_gain_at_10"], model.hyperparameters
    events = protocol.events
    user_ids = events.user_ids[protocol.users]
    lists = []
    for start in range(0, len(user_ids), 2000):
        block = user_ids[start:start + 2000]
        lists += [items for items, _ in model.recommend(block, K, ~model.seen(block).toarray())]
    truth = _truth_sets(events, protocol.users, protocol.truth, protocol.counts(protocol.train) > 0)
    return metrics.ranking_metrics(lists, truth)["normalized_discounted_cumulative_gain_at_10"], model.hyperparameters


def protocols(interactions: pd.DataFrame) -> list[Protocol]:
    events = preparation.prepare(RECIPE, preparation.TrainingData(interactions)).events
    everyone = np.arange(len(events.user_ids))
    split = training.documented_split(events, seed=0)
    others = np.setdiff1d(everyone, split.users)
    holdout = events.newest(everyone, np.ones(len(events.user), dtype=bool), HOLDOUT_SHARE)
    return [Protocol("engine", events, split.truth, split.users, others),
            Protocol("holdout", events, holdout, np.unique(events.user[holdout]), everyone)]


def run(name: str, interactions: pd.DataFrame, items: pd.DataFrame | None) -> list[dict]:
    # prepare() orders events as given; the engine sees the same rows in the same order.
    interactions = interactions.reset_index(drop=True)
    print(f"\n{name}: {interactions['USER_ID'].nunique():,} users, {interactions['ITEM_ID'].nunique():,} items, "
          f"{len(interactions):,} events", flush=True)
    rows = []
    for protocol in protocols(interactions):
        started = time.time()
        engine, chosen = engine_scores(interactions, items, protocol)
        engine_seconds = time.time() - started
        tuned_ials, ials_best = protocol.tuned(ials, IALS_GRID)
        tuned_ease, ease_best = protocol.tuned(ease, EASE_GRID)
        pop = protocol.ndcg(popularity(protocol.counts(protocol.train)), protocol.train, protocol.users, protocol.truth)
        row = dict(data=name, protocol=protocol.name, engine=engine, ials=tuned_ials, ease=tuned_ease, popularity=pop,
                   vs_best=engine / max(tuned_ials, tuned_ease), vs_popularity=engine / pop if pop else float("inf"))
        rows.append(row)
        print(f"  {protocol.name:8s} engine {engine:.4f} ({engine_seconds:.0f}s; {chosen})\n"
              f"           iALS {tuned_ials:.4f} {ials_best}  EASE {tuned_ease:.4f} {ease_best}  popularity {pop:.4f}",
              flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--interactions-csv", action="append", default=[], help="an extra Interactions CSV to compare on")
    parser.add_argument("--items-csv", action="append", default=[],
                        help="the Items CSV of the --interactions-csv in the same position (optional)")
    parser.add_argument("--builtin", nargs="*", choices=("demo", "power-law"), default=["demo", "power-law"],
                        help="the generated data sets to run (default both; none with only CSVs)")
    args = parser.parse_args(argv)
    builtin = {"demo": demo_data, "power-law": lambda: (drifting_catalogue(), None)}
    sets = [(name, builtin[name]) for name in args.builtin]
    for n, path in enumerate(args.interactions_csv):
        items = args.items_csv[n] if n < len(args.items_csv) else None
        sets.append((path, lambda path=path, items=items: (
            pd.read_csv(path, dtype={"USER_ID": str, "ITEM_ID": str}),
            pd.read_csv(items, dtype={"ITEM_ID": str}) if items else None)))
    rows = []
    for name, load in sets:
        rows += run(name, *load())
    table = pd.DataFrame(rows)
    print("\nNDCG@10 (engine = aws-user-personalization-v2, defaults)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    missed = table[(table["vs_best"] < 1.0) | (table["vs_popularity"] < 1.5)]
    if len(missed):
        print(f"\nMISSED: {len(missed)} row(s) below max(tuned iALS, tuned EASE) or 1.5x popularity")
        return 1
    print(f"\nOK: engine >= max(tuned iALS, tuned EASE) (min ratio {table['vs_best'].min():.3f}) and "
          f">= 1.5x popularity (min ratio {table['vs_popularity'].min():.2f}) everywhere")
    return 0


if __name__ == "__main__":
    sys.exit(main())
