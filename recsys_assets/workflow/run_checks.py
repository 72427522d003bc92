"""What a run asks Personalize to do, checked before the first paid call.

The service would refuse these only after the imports (paid) or the training (paid, hours) had run:
a filter expression CreateFilter rejects, a recipe whose batch input is not one userId per line, HPO
resource limits over the service's maximums. Each problem names the run-config key it comes from.
"""

from __future__ import annotations

from typing import Mapping

from recsys_assets.personalize_rules import schemas as schema_rules
from recsys_assets.personalize_rules.filter_checks import check_filter_against_schemas
from recsys_assets.personalize_rules.filter_grammar import FilterExpressionError, parse_filter
from recsys_assets.personalize_rules.limits import MAX_HPO_PARALLEL_TRAINING_JOBS, MAX_HPO_TRAINING_JOBS
from recsys_assets.personalize_rules.minimums import MIN_INTERACTIONS
from recsys_assets.personalize_rules.recipes import USER_BATCH_RECIPES, recipe_name

TRAINING, BATCH = "ops.solution_version.config", "ops.batch_output.config"


def recipe_problems(recipe_arn: str, *, perform_auto_ml: bool, auto_ml_recipes: list[str]) -> list[str]:
    """The pipeline's batch input is one {"userId": ...} per line: only USER_PERSONALIZATION recipes take it."""
    arns = auto_ml_recipes if perform_auto_ml else [recipe_arn]
    problems = []
    for arn in arns:
        name = recipe_name(arn)
        key = f"{TRAINING}.{'auto_ml_config.recipeList' if perform_auto_ml else 'recipe_arn'}"
        if name is None:
            problems.append(f"{key}: {arn!r} is not a recipe ARN (arn:aws:personalize:::recipe/<name>)")
        elif name not in USER_BATCH_RECIPES:
            problems.append(f"{key}: {name} can't serve this pipeline's batch job (one userId per line); "
                            f"use one of {', '.join(USER_BATCH_RECIPES)}")
    return problems


def hpo_resource_problems(hpo_config: Mapping | None) -> list[str]:
    """hpoResourceConfig's limits [BC HPOResourceConfig]: values are strings of whole numbers."""
    resources = (hpo_config or {}).get("hpoResourceConfig") or {}
    numbers, problems = {}, []
    for key, maximum in (("maxNumberOfTrainingJobs", MAX_HPO_TRAINING_JOBS),
                         ("maxParallelTrainingJobs", MAX_HPO_PARALLEL_TRAINING_JOBS)):
        if key not in resources:
            continue
        try:
            numbers[key] = int(str(resources[key]).strip())
        except ValueError:
            numbers[key] = 0
        if not 1 <= numbers[key] <= maximum:
            problems.append(f"{TRAINING}.hpo_config.hpoResourceConfig.{key}: {resources[key]!r} must be a whole "
                            f"number from 1 to {maximum} (the service's maximum)")
    if not problems and numbers.get("maxParallelTrainingJobs", 0) > numbers.get("maxNumberOfTrainingJobs", 40):
        problems.append(f"{TRAINING}.hpo_config.hpoResourceConfig.maxParallelTrainingJobs exceeds "
                        "maxNumberOfTrainingJobs")
    return problems


def filter_problems(expression: str, schema_json: Mapping[str, str]) -> list[str]:
    """CreateFilter's own checks, against the schemas this run imports (dataset -> Avro JSON)."""
    if not expression:
        return []
    try:
        parsed = parse_filter(expression)
        check_filter_against_schemas(parsed, {
            schema_rules.dataset_label(ds.upper()): schema_rules.parse_schema(text)
            for ds, text in schema_json.items()})
    except FilterExpressionError as e:
        return [f"{BATCH}.filter_expression {expression!r}: {e}"]
    return []


def event_type_problems(event_type: str | None, event_types: Mapping[str, int] | None) -> list[str]:
    """Training on one EVENT_TYPE needs that type among the interactions being imported, at least
    MIN_INTERACTIONS times [DG:limits: the minimum counts after event-type filtering]."""
    if not event_type:
        return []
    key = f"{TRAINING}.event_type {event_type!r}"
    if event_types is None:
        return [f"{key}: the interactions schema has no EVENT_TYPE field"]
    held = ", ".join(f"{name!r} ({n:,})" for name, n in sorted(event_types.items(), key=lambda t: -t[1])[:10]) or "none"
    found = event_types.get(event_type, 0)
    if not found:
        return [f"{key}: no interaction has this EVENT_TYPE; the interactions hold {held}"]
    if found < MIN_INTERACTIONS:
        return [f"{key}: only {found:,} interactions have this EVENT_TYPE; Personalize trains on at least "
                f"{MIN_INTERACTIONS:,} (the interactions hold {held})"]
    return []
