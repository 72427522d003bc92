"""Hyperparameters: parsing a solutionConfig, and the candidates a training run chooses between.

Every value arrives as a string [personalize-api.md §4.2]. A training run tries one or more candidate
settings on a validation split and keeps the best (``recipes``):

- without HPO, the candidates are the product of the grids of the engine's ``"auto"`` values (for
  example which of iALS and EASE a user-personalization solution uses); usually that is one candidate;
- with ``performHPO``, ``hpoConfig.algorithmHyperParameterRanges`` adds dimensions (integer and
  continuous ranges, categorical lists; names as the service's, with an optional ``training.`` or
  ``data.`` prefix), and up to ``maxNumberOfTrainingJobs`` distinct candidates are drawn from the
  joint space with a seeded random search (all of it when it is that small), next to the grid
  trained without HPO. Without ranges, the recipe's documented HPO-tunable hyperparameters are
  searched over their documented ranges.

``hpoObjective`` is accepted and ignored, as the service documents it is not supported: the objective
is always the validation NDCG@10. Candidates are trained one after another (``maxParallelTrainingJobs``
is validated, not used).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

SECTIONS = ("algorithmHyperParameters", "featureTransformationParameters")
DEFAULT_TRAINING_JOBS = 10
MAX_TRAINING_JOBS = 40
MAX_PARALLEL_TRAINING_JOBS = 10
AUTO = "auto"


class HyperparameterError(ValueError):
    """A hyperparameter or HPO setting the recipe can't train with; the message is the failureReason."""


@dataclass(frozen=True)
class Relative:
    """An ``auto`` value relative to a scale only known from the data (e.g. EASE's λ)."""

    factor: float


@dataclass(frozen=True)
class Param:
    kind: object  # int, float, bool, or a tuple of the allowed strings
    default: str
    low: float | None = None
    high: float | None = None
    section: str = SECTIONS[0]
    tunable: bool = False  # may appear in HPO ranges (and is searched by default under HPO)
    auto: tuple = ()  # candidates for the value "auto"; non-empty only for the engine's own settings
    used_by: frozenset[str] | None = None  # algorithms the value matters to (None: every one)
    only_if: str | None = None  # a boolean hyperparameter that must be true for the value to matter
    serving: bool = False  # how a fitted model serves: chosen on the fit (``training.fit``), not a candidate

    def parse(self, name: str, text: object):
        raw = str(text).strip()
        if self.auto and raw.lower() == AUTO:
            return AUTO
        if isinstance(self.kind, tuple):
            if raw not in self.kind:
                raise HyperparameterError(
                    f"Invalid value {text!r} for hyperparameter {name}: expected one of {', '.join(self.kind)}.")
            return raw
        if self.kind is bool:
            if raw.lower() not in ("true", "false"):
                raise HyperparameterError(f"Invalid value {text!r} for hyperparameter {name}: expected true or false.")
            return raw.lower() == "true"
        try:
            value = self.kind(raw)
        except ValueError:
            kind = "an integer" if self.kind is int else "a number"
            raise HyperparameterError(f"Invalid value {text!r} for hyperparameter {name}: expected {kind}.") from None
        if not (self.low <= value <= self.high) or (isinstance(value, float) and not math.isfinite(value)):
            raise HyperparameterError(
                f"Invalid value {text!r} for hyperparameter {name}: must be in [{self.low:g}, {self.high:g}].")
        return value

    def format(self, value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return repr(float(f"{value:.6g}"))
        return str(value)


@dataclass(frozen=True)
class Search:
    candidates: list[dict]  # parsed values, one dict per candidate (Relative where data-dependent)
    tuned: tuple[str, ...]  # names searched by HPO (reported as tunedHPOParams)
    given: dict  # each hyperparameter's configured value (AUTO where the engine chooses)
    base: int = 0  # the first ``base`` candidates are the grid trained without HPO too (0: all are)


def build_search(params: Mapping[str, Param], solution_config: dict | None, *, perform_hpo: bool, seed: int,
                 unavailable: Mapping[str, Mapping[object, str]] | None = None) -> Search:
    """The candidates of a training run; HyperparameterError for unknown names or bad values.

    ``unavailable[name][value]`` is why a value can't be used on this data: such values leave the
    ``auto`` grids and HPO ranges, and fail training when given explicitly.
    """
    config = solution_config or {}
    unavailable = unavailable or {}
    fixed = _given_values(params, config)
    ranges = _ranges(params, config.get("hpoConfig") or {}) if perform_hpo else {}
    for name, values in ranges.items():
        if isinstance(values, list):
            ranges[name] = [v for v in values if v not in unavailable.get(name, {})]
            if not ranges[name]:
                raise HyperparameterError(next(iter(unavailable[name].values())))
    dimensions = {name: _grid(param, fixed[name], unavailable.get(name, {}))
                  for name, param in params.items() if name not in ranges}

    grid = {**dimensions, **{name: _grid(params[name], fixed[name], unavailable.get(name, {})) for name in ranges}}
    base = _distinct(params, (dict(zip(grid, combo)) for combo in itertools.product(*grid.values())))
    if not ranges:
        return Search(base, (), fixed)
    # HPO searches beyond the grid trained without it, never instead of it: its draws must beat the
    # grid's best on validation (``training.fit``), so HPO never serves worse lists than no HPO.
    budget = _training_jobs(config.get("hpoConfig") or {})
    rng = np.random.default_rng(seed)
    space = {**dimensions, **ranges}
    if all(isinstance(d, list) for d in space.values()) and math.prod(len(d) for d in space.values()) <= budget:
        combos = (dict(zip(space, combo)) for combo in itertools.product(*space.values()))
    else:
        combos = ({name: _draw(rng, d) for name, d in space.items()} for _ in range(50 * budget))
    draws = _distinct(params, itertools.chain(base, combos), limit=len(base) + budget)[len(base):]
    return Search(base + draws, tuple(ranges), fixed, base=len(base))


def _grid(param: Param, value, unavailable: Mapping[object, str]) -> list:
    """The values a grid tries for one hyperparameter: its ``auto`` grid, or the value given."""
    if value == AUTO and not param.serving:
        return [v for v in param.auto if v not in unavailable]
    if value in unavailable:
        raise HyperparameterError(unavailable[value])
    return [value]


def relevant(params: Mapping[str, Param], candidate: dict) -> dict:
    """The candidate's values that matter to its algorithm."""
    algorithm = candidate.get("algorithm")
    return {n: v for n, v in candidate.items()
            if (params[n].used_by is None or algorithm in params[n].used_by)
            and (params[n].only_if is None or candidate.get(params[n].only_if))}


def _distinct(params, combos, limit: int | None = None) -> list[dict]:
    seen, out = set(), []
    for combo in combos:
        key = tuple(sorted(relevant(params, combo).items(), key=lambda kv: kv[0]))
        if key not in seen:
            seen.add(key)
            out.append(combo)
            if limit is not None and len(out) == limit:
                break
    return out


def _given_values(params: Mapping[str, Param], config: dict) -> dict:
    values = {name: param.parse(name, param.default) for name, param in params.items()}
    for section in SECTIONS:
        given = config.get(section) or {}
        if not isinstance(given, dict):
            raise HyperparameterError(f"{section} must be a map of hyperparameter names to string values.")
        names = {n for n, p in params.items() if p.section == section}
        unknown = sorted(set(given) - names)
        if unknown:
            raise HyperparameterError(
                f"Unknown hyperparameter {unknown[0]!r} in {section}; supported: {', '.join(sorted(names)) or 'none'}.")
        for name, text in given.items():
            values[name] = params[name].parse(name, text)
    return values


def _ranges(params: Mapping[str, Param], hpo_config: dict) -> dict[str, object]:
    """name -> list of values (categorical) or ("int"|"float", low, high)."""
    spec = hpo_config.get("algorithmHyperParameterRanges")
    if not spec:
        # The documented tunable hyperparameters; the engine's own settings keep their auto grids.
        return {name: ("int" if p.kind is int else "float", p.low, p.high) if p.kind in (int, float)
                else [p.parse(name, v) for v in _choices(p)]
                for name, p in params.items() if p.tunable and not p.auto}
    out: dict[str, object] = {}
    kinds = {"integerHyperParameterRanges": int, "continuousHyperParameterRanges": float,
             "categoricalHyperParameterRanges": None}
    for key in spec:
        if key not in kinds:
            raise HyperparameterError(f"Unknown hpoConfig range type {key!r}; expected one of {', '.join(kinds)}.")
    for key, kind in kinds.items():
        for entry in spec.get(key) or []:
            name = str(entry.get("name", ""))
            for prefix in ("training.", "data."):
                name = name.removeprefix(prefix)
            param = params.get(name)
            if param is None:
                raise HyperparameterError(
                    f"Unknown hyperparameter {entry.get('name')!r} in hpoConfig; tunable: "
                    f"{', '.join(sorted(n for n, p in params.items() if p.tunable)) or 'none'}.")
            if not param.tunable:
                raise HyperparameterError(f"Hyperparameter {name} is not tunable by HPO.")
            if name in out:
                raise HyperparameterError(f"Hyperparameter {name} has more than one hpoConfig range.")
            if kind is None:
                values = entry.get("values") or []
                if not values:
                    raise HyperparameterError(f"The categorical range of {name} needs at least one value.")
                out[name] = list(dict.fromkeys(param.parse(name, v) for v in values))
                continue
            if param.kind is not kind:
                raise HyperparameterError(f"Hyperparameter {name} takes a {param.kind.__name__} range, not {key}.")
            low, high = (param.parse(name, entry.get(bound)) for bound in ("minValue", "maxValue"))
            if low > high:
                raise HyperparameterError(f"The range of {name} has minValue {low} above maxValue {high}.")
            out[name] = [low] if low == high else ("int" if param.kind is int else "float", low, high)
    return out


def _choices(param: Param) -> tuple:
    return param.kind if isinstance(param.kind, tuple) else ("true", "false")


def _training_jobs(hpo_config: dict) -> int:
    resources = hpo_config.get("hpoResourceConfig") or {}
    for key, maximum in (("maxParallelTrainingJobs", MAX_PARALLEL_TRAINING_JOBS), ("maxNumberOfTrainingJobs", MAX_TRAINING_JOBS)):
        if key in resources:
            try:
                number = int(str(resources[key]).strip())
            except ValueError:
                number = 0
            if not 1 <= number <= maximum:
                raise HyperparameterError(f"Invalid {key} {resources[key]!r}: must be an integer from 1 to {maximum}.")
    return int(resources.get("maxNumberOfTrainingJobs", DEFAULT_TRAINING_JOBS))


def _draw(rng: np.random.Generator, dimension):
    if isinstance(dimension, list):
        return dimension[rng.integers(len(dimension))]
    kind, low, high = dimension
    if kind == "int":
        return int(rng.integers(low, high + 1))
    return float(f"{rng.uniform(low, high):.4g}")
