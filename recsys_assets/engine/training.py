"""Training a solution version: prepare -> fit (choosing between candidates) -> evaluate -> complete.

[personalize-api.md §5.2] GetSolutionMetrics: users are split 90/10 with a fixed seed. The model trains on
the 90 % users' interactions plus each test user's oldest 90 %; the test user's newest 10 % are the truth
(``documented_split``), scored by ``metrics``. The test users are the 10 % whose IDs have the smallest seeded
hash (``user_hashes``): whether a user is tested depends on their own ID only, so renaming, adding or removing
one user moves at most that user in or out of the test set, and an unchanged data set is always measured on
the same users (emulator choice: the service says "a fixed seed", not how it draws). ``train_and_evaluate``
fits once on that split: the metrics come from that model, and the final model folds the held-out
interactions back in (``trainers.complete``) instead of training a second time.

Choosing between candidates (the engine's ``auto`` grids, HPO's draws) happens inside ``fit``, on a
validation split of other users than the metrics' test users, by NDCG@10.

``METRICS_PROTOCOL`` names how the engine computes its metrics; it changes whenever the split or a measure
does, so that metrics of different protocols are never compared (the pipeline's quality gate reads it).

Trending-now also reports ``trend_prediction_accuracy`` (emulator choice; the service names the metric, not
its key or formula): of the items whose counts grew most in the newest ``trend_discovery_frequency`` window
(up to 25 with positive growth), the share found in the top 25 of a model trained on the data before that
window.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import numpy as np

from recsys_assets.engine import algorithms, repeats
from recsys_assets.engine.metrics import TOP_K, TREND_METRIC, evaluate
from recsys_assets.engine.models import Model
from recsys_assets.engine.recipes import hpo
from recsys_assets.engine.recipes.catalogue import BLEND, TREND_WINDOWS, TRENDING_NOW, TrainingError
from recsys_assets.engine.recipes.preparation import Events, Prepared, TrainingData, prepare
from recsys_assets.engine.recipes.trainers import Fitted, complete, fit_candidate, sequences, with_repeats

# How the metrics are computed, recorded next to them: "2" chooses users by a hash of their ID ("1" drew
# seeded random user codes, which follow the sorted IDs, so renaming one user reshuffled the test users).
METRICS_PROTOCOL = "local-engine-2"
# Blends tried: of the best BLEND_PAIRS candidates of each algorithm.
BLEND_PAIRS = 2
# Validation split for choosing between candidates, the benchmark's protocol: the newest 20 % of up
# to this many other users with 10+ events (2+ where fewer than MIN_VALIDATION_USERS have 10).
VALIDATION_SHARE = 0.2
VALIDATION_MIN_EVENTS = 10
MIN_VALIDATION_USERS = 50
MAX_VALIDATION_USERS = 10_000
# An HPO draw replaces the grid's choice only when it validates this much better: a draw that wins
# by noise would serve worse lists than no HPO.
HPO_MARGIN = 0.01


def train(recipe_arn: str, data: TrainingData, *, event_type: str | None = None,
          solution_config: dict | None = None, perform_hpo: bool = False, seed: int = 0) -> Model:
    prepared = prepare(recipe_arn, data, event_type=event_type, solution_config=solution_config,
                       perform_hpo=perform_hpo, seed=seed)
    return fit(prepared, seed=seed).model


def fit(prepared: Prepared, *, exclude: np.ndarray | None = None, seed: int = 0) -> Fitted:
    """Train on the events not in ``exclude``; with several candidates, the best on a validation split.

    The validation users are others than those with excluded events (the metrics' test users), so
    choosing never sees what the metrics measure. When both iALS and EASE were tried, blends of the
    best of each are tried too (no training: they reuse the fits). Then the repeat settings
    (``serving`` hyperparameters) are chosen on the best fit; every choice scores the lists as served.
    """
    events = prepared.events
    keep = np.ones(len(events.user), dtype=bool) if exclude is None else ~exclude
    candidates = prepared.search.candidates
    values = candidates[0]
    personal = prepared.recipe.trainer == "personalization"
    kept = sequences(prepared, keep) if personal else None
    settings = _repeat_settings(prepared, values, kept) if personal else [{}]
    if len(candidates) > 1 or len(settings) > 1:
        users, truth = _validation_split(events, keep, seed)
        fitting = keep & ~truth
        seq = sequences(prepared, fitting) if personal else None
        cache: dict = {}
        tried: list[tuple[float, dict]] = []
        best: tuple[float, dict, Fitted | None] = (-1.0, values, None)

        def attempt(trial_values: dict, grid: bool) -> None:
            nonlocal best
            trial = fit_candidate(prepared, {**trial_values, **settings[0]}, fitting, seed, cache)
            served = with_repeats(trial.model, prepared, trial.values, seq) if personal else trial.model
            score = _validation_ndcg(served, prepared, users, truth)
            if grid:
                tried.append((score, trial_values))
            if score > best[0] * (1.0 if grid else 1.0 + HPO_MARGIN):
                best = (score, trial_values, trial)

        base = prepared.search.base or len(candidates)
        for candidate in candidates[:base]:
            attempt(candidate, grid=True)
        for blend in _blends(prepared, tried):
            attempt(blend, grid=True)
        for draw in candidates[base:]:
            attempt(draw, grid=False)
        values = best[1]
        if len(settings) > 1:
            model = best[2].model
            values = {**values, **max(settings, key=lambda s: _validation_ndcg(
                with_repeats(model, prepared, {**best[2].values, **s}, seq), prepared, users, truth))}
    values = {**values, **settings[0]} if len(settings) == 1 else values
    fitted = fit_candidate(prepared, values, keep, seed, {})
    if personal:
        fitted.model = with_repeats(fitted.model, prepared, fitted.values, kept)
    if prepared.search.tuned:
        fitted.model.tuned_hyperparameters = {n: fitted.model.hyperparameters[n] for n in prepared.search.tuned
                                              if n in fitted.model.hyperparameters}
    return fitted


def _repeat_settings(prepared: Prepared, values: dict, seq) -> list[dict]:
    """The repeat settings to choose between (``repeat_weight`` x ``repeat_half_life``; the first is
    the default): one where they are given, or where the data has no repeats to weigh."""
    params = prepared.params
    grids = {}
    for name in ("repeat_weight", "repeat_half_life"):
        given = values[name]
        grids[name] = list(params[name].auto) if given == hpo.AUTO else [given]
    middle = {name: grid[len(grid) // 2] for name, grid in grids.items()}
    if repeats.repeat_shares(seq, len(prepared.events.user_ids))[1] == 0.0:
        return [middle]
    combos = [dict(zip(grids, combo)) for combo in itertools.product(*grids.values())]
    return [middle] + [c for c in combos if c != middle]


def _blends(prepared: Prepared, tried: list[tuple[float, dict]]) -> list[dict]:
    """Blends of the two best iALS and the two best EASE candidates (the single best of each is often
    not the best pair), at each blend weight."""
    ranked = sorted(tried, key=lambda t: -t[0])
    best = {a: [v for _, v in ranked if v.get("algorithm") == a][:BLEND_PAIRS] for a in ("ials", "ease")}
    given = prepared.search.given["blend_weight"]
    weights = prepared.params["blend_weight"].auto if given == hpo.AUTO else [given]
    return [{**ease, **hpo.relevant(prepared.params, ials), "algorithm": BLEND, "blend_weight": w}
            for ials in best["ials"] for ease in best["ease"] for w in weights]


def _validation_split(events: Events, keep: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation users, mask of their held-out events): the newest 20 % of up to
    MAX_VALIDATION_USERS users with 10+ events (2+ if too few have 10), none of whom has events outside
    ``keep``; where more qualify, those with the smallest ``user_hashes`` (seed + 1), as for the test users."""
    counts = np.bincount(events.user[keep], minlength=len(events.user_ids))
    touched = np.zeros(len(events.user_ids), dtype=bool)
    touched[events.user[~keep]] = True
    (users,) = np.nonzero((counts >= VALIDATION_MIN_EVENTS) & ~touched)
    if len(users) < MIN_VALIDATION_USERS:
        (users,) = np.nonzero((counts >= 2) & ~touched)
    if len(users) > MAX_VALIDATION_USERS:
        users = np.sort(users[_smallest(user_hashes(events.user_ids[users], seed + 1), MAX_VALIDATION_USERS)])
    return users, events.newest(users, keep, VALIDATION_SHARE)


def _validation_ndcg(model: Model, prepared: Prepared, users: np.ndarray, truth: np.ndarray) -> float:
    scores = evaluate(model, prepared, users, truth)
    return scores["normalized_discounted_cumulative_gain_at_10"]


TEST_USER_SHARE = 0.1
TRUTH_SHARE = 0.1


@dataclass
class Split:
    users: np.ndarray  # test users (codes into events.user_ids), sorted
    truth: np.ndarray  # bool mask over the events: the test users' newest 10 %


def documented_split(events: Events, seed: int) -> Split:
    """10 % of users: those with the smallest ``user_hashes`` (seeded), and each one's newest 10 % of
    interactions as the truth.

    Each user's draw depends on their ID string and the seed alone, not on the other IDs or the order
    of the codes: one renamed user moves at most that user in or out. A test user with n >= 2
    interactions keeps their oldest n - max(1, round(0.1 n)) as input; one with a single interaction
    keeps it, and gets an empty truth.
    """
    n_users = len(events.user_ids)
    n_test = max(1, int(round(TEST_USER_SHARE * n_users))) if n_users else 0
    users = np.sort(_smallest(user_hashes(events.user_ids, seed), n_test))
    return Split(users, events.newest(users, np.ones(len(events.user), dtype=bool), TRUTH_SHARE))


def user_hashes(user_ids: np.ndarray, seed: int) -> np.ndarray:
    """Each ID's 64-bit BLAKE2b hash keyed with the seed (of its UTF-8 bytes): a draw per user that
    depends on nothing else (some 0.6 s per million IDs)."""
    key = str(seed).encode()
    digests = b"".join([hashlib.blake2b(str(u).encode("utf-8", "surrogatepass"), digest_size=8, key=key).digest()
                        for u in user_ids])
    return np.frombuffer(digests, dtype="<u8")


def _smallest(hashes: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` smallest hashes (equal hashes, which 64 bits make vanishingly rare, by
    position: by ID, as codes follow the sorted IDs)."""
    return np.argsort(hashes, kind="stable")[:n]


def trend_prediction_accuracy(prepared: Prepared, values: dict, seed: int) -> float:
    events = prepared.events
    window = TREND_WINDOWS[values["trend_discovery_frequency"]]
    end = events.time.max()
    n = len(events.item_ids)
    growth = algorithms.trend_scores(events.item, events.time, n, window, end)
    grew = np.flatnonzero(growth > 0)
    actual = grew[np.lexsort((grew, -growth[grew]))][:TOP_K]
    before = events.time <= end - window
    if not len(actual) or not before.any():
        return 0.0
    model = fit(_with_events(prepared, before), seed=seed).model
    predicted = model.top_items(model.user_ids[:1], TOP_K)[0][0]
    return len(set(actual.tolist()) & set(predicted.tolist())) / len(actual)


def _with_events(prepared: Prepared, keep: np.ndarray) -> Prepared:
    """``prepared`` restricted to the ``keep`` events (same catalogue and user codes)."""
    events = prepared.events
    kept = Events(events.user[keep], events.item[keep], events.time[keep], events.weight[keep],
                          events.user_ids, events.item_ids)
    return Prepared(prepared.recipe, prepared.params, prepared.search, kept, prepared.tokens,
                            prepared.catalogue_size)


def train_and_evaluate(recipe_arn: str, data: TrainingData, *, event_type: str | None = None,
                       solution_config: dict | None = None, perform_hpo: bool = False,
                       seed: int = 0) -> tuple[Model, dict[str, float]]:
    """The model to serve and the GetSolutionMetrics dict (4 decimals, as the service reports them).

    One fit on the documented split gives the metrics; the final model is that fit with the held-out
    interactions folded back in. Raises TrainingError with the failureReason.
    """
    prepared = prepare(recipe_arn, data, event_type=event_type, solution_config=solution_config,
                               perform_hpo=perform_hpo, seed=seed)
    split = documented_split(prepared.events, seed)
    fitted = fit(prepared, exclude=split.truth, seed=seed)
    metrics = evaluate(fitted.model, prepared, split.users, split.truth)
    if prepared.recipe is TRENDING_NOW:
        metrics[TREND_METRIC] = trend_prediction_accuracy(prepared, fitted.values, seed)
    model = complete(fitted, prepared, split.truth, seed=seed)
    return model, {name: round(float(value), 4) for name, value in metrics.items()}


def train_auto_ml(recipe_arns: tuple[str, ...], metric_name: str, data: TrainingData, *,
                  event_type: str | None = None, seed: int = 0) -> tuple[str, Model, dict[str, float]]:
    """AutoML: each candidate recipe trained with HPO, as ``train_and_evaluate`` does, and the one whose
    ``metric_name`` (GetSolutionMetrics' value) is highest kept; a tie goes to the earlier recipe.

    Returns (best recipe ARN, its model, its metrics). The solutionConfig is not used: with performAutoML
    the service ignores all of it but autoMLConfig (catalogue's AutoML notes). A candidate that can't train
    on this data (TrainingError) is skipped; if none can, the first one's error is raised.
    """
    best: tuple[str, Model, dict[str, float]] | None = None
    first_error: TrainingError | None = None
    for arn in recipe_arns:
        try:
            model, metrics = train_and_evaluate(arn, data, event_type=event_type, perform_hpo=True, seed=seed)
        except TrainingError as e:
            first_error = first_error or e
            continue
        if best is None or metrics[metric_name] > best[2][metric_name]:
            best = (arn, model, metrics)
    if best is None:
        raise first_error
    return best
