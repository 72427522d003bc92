"""The recipe catalogue: Personalize's custom recipes, their documented hyperparameters, and the engine's own.

[personalize-api.md §4.1]; recipeType has three documented values, popular-items recipes use
USER_PERSONALIZATION (documented for Popularity-Count). Domain use cases are listed (ListRecipes) but
only recommenders use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recsys_assets.engine.recipes.hpo import SECTIONS, HyperparameterError, Param, Relative, build_search

_ARN = "arn:aws:personalize:::"
BLEND = "ials+ease"
# The one recipe that supports performIncrementalUpdate; the engine does not train it.
SEMANTIC_SIMILARITY = "arn:aws:personalize:::recipe/aws-semantic-similarity"
DOMAIN_RECIPES = {
    "ECOMMERCE": ("aws-ecomm-customers-who-viewed-x-also-viewed", "aws-ecomm-frequently-bought-together",
                  "aws-ecomm-popular-items-by-purchases", "aws-ecomm-popular-items-by-views",
                  "aws-ecomm-recommended-for-you"),
    "VIDEO_ON_DEMAND": ("aws-vod-because-you-watched-x", "aws-vod-more-like-x", "aws-vod-most-popular",
                        "aws-vod-top-picks", "aws-vod-trending-now"),
}
DOMAIN_OF = {f"{_ARN}recipe/{name}": domain for domain, names in DOMAIN_RECIPES.items() for name in names}
# Recipes are built in: their timestamps are the service's launch, a fixed point in time.
RECIPE_EPOCH = 1543622400.0


@dataclass(frozen=True)
class Recipe:
    name: str
    arn: str
    recipe_type: str
    algorithm_arn: str
    feature_transformation_arn: str | None
    description: str
    batch_input: str | None  # "userId", "userId+itemList", "itemId"; None: no batch inference
    has_scores: bool
    supports_update: bool
    trainer: str = field(repr=False)


def _recipe(name: str, recipe_type: str, feature_transformation: str | None, description: str, *,
            trainer: str, batch_input: str | None = "userId", has_scores: bool = True,
            supports_update: bool = False, algorithm: str | None = None) -> Recipe:
    return Recipe(
        name=name,
        arn=f"{_ARN}recipe/{name}",
        recipe_type=recipe_type,
        algorithm_arn=f"{_ARN}algorithm/{algorithm or name}",
        feature_transformation_arn=feature_transformation and f"{_ARN}feature-transformation/{feature_transformation}",
        description=description,
        batch_input=batch_input,
        has_scores=has_scores,
        supports_update=supports_update,
        trainer=trainer,
    )


# [personalize-api.md §4.1]; recipeType has three documented values, popular-items recipes use
# USER_PERSONALIZATION (documented for Popularity-Count).
POPULARITY_COUNT = _recipe(
    "aws-popularity-count", "USER_PERSONALIZATION", "sims",
    "Recommends the items most users interacted with; a baseline for other recipes.",
    trainer="popularity", has_scores=False,
)
TRENDING_NOW = _recipe(
    "aws-trending-now", "USER_PERSONALIZATION", None,
    "Recommends the items whose interactions grow fastest.",
    trainer="trending", batch_input=None, has_scores=False, algorithm="aws-trending-now-custom",
)
USER_PERSONALIZATION = _recipe(
    "aws-user-personalization", "USER_PERSONALIZATION", None,
    "Personalized item recommendations for each user from their interaction history.",
    trainer="personalization", supports_update=True,
)
USER_PERSONALIZATION_V2 = _recipe(
    "aws-user-personalization-v2", "USER_PERSONALIZATION", None,
    "Personalized item recommendations for each user, favouring recent interactions.",
    trainer="personalization",
)
PERSONALIZED_RANKING = _recipe(
    "aws-personalized-ranking", "PERSONALIZED_RANKING", "JSON-percentile-filtering",
    "Ranks a given list of items for a user.",
    trainer="personalization", batch_input="userId+itemList",
)
PERSONALIZED_RANKING_V2 = _recipe(
    "aws-personalized-ranking-v2", "PERSONALIZED_RANKING", None,
    "Ranks a given list of items for a user, favouring recent interactions.",
    trainer="personalization", batch_input="userId+itemList",
)
SIMS = _recipe(
    "aws-sims", "RELATED_ITEMS", "sims",
    "Items similar to a given item, from co-occurrence in user histories.",
    trainer="sims", batch_input="itemId", has_scores=False,
)
SIMILAR_ITEMS = _recipe(
    "aws-similar-items", "RELATED_ITEMS", None,
    "Items similar to a given item, from co-occurrence and item metadata.",
    trainer="similar-items", batch_input="itemId", has_scores=False,
)
RECIPES: dict[str, Recipe] = {r.arn: r for r in (
    POPULARITY_COUNT, TRENDING_NOW, USER_PERSONALIZATION, USER_PERSONALIZATION_V2,
    PERSONALIZED_RANKING, PERSONALIZED_RANKING_V2, SIMS, SIMILAR_ITEMS,
)}
# Only the v2 recipes take event weights [personalize-api.md §4.2].
EVENTS_CONFIG_RECIPES = (USER_PERSONALIZATION_V2, PERSONALIZED_RANKING_V2)


def get_recipe(recipe_arn: str) -> Recipe:
    try:
        return RECIPES[recipe_arn]
    except KeyError:
        raise KeyError(f"Unknown recipe ARN {recipe_arn!r}; known: {', '.join(sorted(RECIPES))}") from None


class TrainingError(Exception):
    """Training failed; ``str(e)`` is the solution version's failureReason."""


# --- hyperparameters ----------------------------------------------------------------------------------

_IALS, _EASE, _NONE = frozenset({"ials", BLEND}), frozenset({"ease", BLEND}), frozenset()
_FT = SECTIONS[1]


def _engine(recency: str) -> dict[str, Param]:
    """The engine's own settings for user-personalization and personalized-ranking.

    iALS: 64 factors (v1's hidden_dimension defaults to 64, not the service's 149: on clustered
    synthetic data 149 factors fit 2-3x slower and scored no better), 15 iterations, confidence
    c = 1 + alpha log(1 + w) for a (user, item) pair's summed event weight w (repeats add confidence
    with diminishing returns). The best regularisation sits near 1.5-5x alpha and drops sharply
    beyond it (the model collapses to popularity), so both are chosen per data set on the grids
    below, which hold the best of both benchmark catalogues. EASE: λ relative to the mean diagonal of
    XᵀX. Recency (when the recipe's recency setting is on): an event's weight halves every half-life
    x the data's time span; 0.25 suits a catalogue whose tastes drift, 100 (next to no decay) stable
    ones (±3-15 % NDCG@10 on the benchmark catalogues; 1.0 lost 2.6 % to 100 on the ratings-like one),
    per algorithm, so a blend can mix them.

    Repeats (``engine.repeats``), chosen on the fitted model rather than trained per candidate:
    ``repeat_weight`` scales the odds of the repeat share learned from the data (0: never serve a
    user's own items back), ``repeat_half_life`` (when recency is on) halves an event's weight in the
    repeat score every so many of the user's own events: 3 follows a session, 200 counts.
    """
    return {
        "algorithm": Param(("auto", "ials", "ease"), "auto", tunable=True, auto=("ials", "ease")),
        "ials_regularization": Param(float, "auto", 1e-4, 1e4, tunable=True, auto=(10.0, 30.0, 100.0), used_by=_IALS),
        "ials_alpha": Param(float, "auto", 0.01, 1e3, tunable=True, auto=(5.0, 20.0), used_by=_IALS),
        "ials_half_life": Param(float, "auto", 0.01, 100.0, tunable=True, auto=(0.25, 100.0), used_by=_IALS,
                                only_if=recency),
        "ease_lambda": Param(float, "auto", 1e-3, 1e7, tunable=True,
                             auto=(Relative(1.0), Relative(4.0), Relative(16.0)), used_by=_EASE),
        "ease_half_life": Param(float, "auto", 0.01, 100.0, tunable=True, auto=(0.25, 100.0), used_by=_EASE,
                                only_if=recency),
        "blend_weight": Param(float, "auto", 0.0, 1.0, tunable=True, auto=(0.3, 0.5, 0.7),
                              used_by=frozenset({BLEND})),
        "repeat_weight": Param(float, "auto", 0.0, 100.0, auto=(0.5, 1.0, 2.0), serving=True),
        "repeat_half_life": Param(float, "auto", 0.1, 1e6, auto=(3.0, 20.0, 200.0), only_if=recency, serving=True),
    }


ALS_FACTORS = 64
_HISTORY_PERCENTILES = {
    "min_user_history_length_percentile": Param(float, "0.0", 0.0, 1.0, section=_FT),
    "max_user_history_length_percentile": Param(float, "0.99", 0.0, 1.0, section=_FT),
}
_V1 = {
    "hidden_dimension": Param(int, "64", 32, 256, tunable=True, used_by=_IALS),
    "bptt": Param(int, "32", 2, 32, tunable=True, used_by=_NONE),
    "recency_mask": Param(bool, "true", tunable=True),
    **_engine("recency_mask"), **_HISTORY_PERCENTILES,
}
_V2 = {"apply_recency_bias": Param(bool, "true"), **_engine("apply_recency_bias")}
TREND_WINDOWS = {"30 minutes": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "1 day": 86400}
PARAMS: dict[str, dict[str, Param]] = {
    POPULARITY_COUNT.arn: {},
    TRENDING_NOW.arn: {"trend_discovery_frequency": Param(tuple(TREND_WINDOWS), "2 hours", section=_FT)},
    USER_PERSONALIZATION.arn: _V1,
    USER_PERSONALIZATION_V2.arn: _V2,
    PERSONALIZED_RANKING.arn: _V1,
    PERSONALIZED_RANKING_V2.arn: _V2,
    SIMS.arn: {
        "popularity_discount_factor": Param(float, "0.5", 0.0, 1.0, tunable=True),
        "min_cointeraction_count": Param(int, "3", 0, 10, tunable=True),
        "min_user_history_length_percentile": Param(float, "0.005", 0.0, 1.0, section=_FT),
        "max_user_history_length_percentile": Param(float, "0.995", 0.0, 1.0, section=_FT),
        "min_item_interaction_count_percentile": Param(float, "0.01", 0.0, 1.0, section=_FT),
        "max_item_interaction_count_percentile": Param(float, "0.9", 0.0, 1.0, section=_FT),
    },
    SIMILAR_ITEMS.arn: {
        "popularity_discount_factor": Param(float, "0.0", 0.0, 1.0),
        "item_id_hidden_dim": Param(int, "100", 30, 200, tunable=True, used_by=_NONE),
        "item_metadata_hidden_dim": Param(int, "100", 30, 200, tunable=True, used_by=_NONE),
    },
}


def solution_config_problem(recipe_arn: str, solution_config: dict | None, *, perform_hpo: bool,
                            only: tuple[str, ...] | None = None) -> str | None:
    """Why this recipe can't train with these hyperparameters (None if it can), before anything is created;
    ``only`` limits them to the names given (the service's documented ones, for a run on AWS)."""
    if recipe_arn not in RECIPES:
        return f"unknown recipe {recipe_arn}"
    params = {n: p for n, p in PARAMS[recipe_arn].items() if only is None or n in only}
    try:
        build_search(params, solution_config, perform_hpo=perform_hpo, seed=0)
    except HyperparameterError as e:
        return str(e)
    return None


# --- AutoML -------------------------------------------------------------------------------------------
# CreateSolution performAutoML (botocore's model): the service "selects the optimal USER_PERSONALIZATION
# recipe and hyperparameters", performHPO "is always true"; AutoMLConfig: "determines which recipe, from the
# specified list, optimizes the given metric". https://docs.aws.amazon.com/personalize/latest/dg/training-solution-auto-ml.html:
# performAutoML and recipeArn "must be specified but not both"; "AutoML is only performed using the HRNN
# recipes"; with performAutoML "all parameters of the solutionConfig object are ignored except for
# autoMLConfig". The HRNN recipes are gone ("Legacy HRNN recipes are no longer available",
# .../legacy-user-personalization-recipes.html), User-Personalization "improves upon and unifies" them: the
# engine's own list (the service publishes none) is User-Personalization v1 and v2 (emulator choice). A
# recipeList may name any USER_PERSONALIZATION recipe that answers a userId (not Trending-Now, which has no
# batch inference). The docs give no default metricName: precision_at_25 (emulator choice).
LEGACY_HRNN = ("aws-hrnn", "aws-hrnn-metadata", "aws-hrnn-coldstart")
AUTOML_DEFAULT_RECIPES = (USER_PERSONALIZATION.arn, USER_PERSONALIZATION_V2.arn)
AUTOML_RECIPES = tuple(r.arn for r in RECIPES.values()
                       if r.recipe_type == "USER_PERSONALIZATION" and r.batch_input == "userId")
AUTOML_DEFAULT_METRIC = "precision_at_25"


def auto_ml_candidates(solution_config: dict | None) -> tuple[tuple[str, ...], str]:
    """The recipes AutoML trains (the list's order, duplicates dropped) and the metric it picks by."""
    auto = (solution_config or {}).get("autoMLConfig") or {}
    listed = tuple(dict.fromkeys(auto.get("recipeList") or ()))
    return listed or AUTOML_DEFAULT_RECIPES, auto.get("metricName") or AUTOML_DEFAULT_METRIC


def auto_ml_config_problem(solution_config: dict | None, metric_names: tuple[str, ...]) -> str | None:
    """Why CreateSolution's autoMLConfig can't be searched (None if it can); ``metric_names``: those every
    candidate reports."""
    recipes, metric = auto_ml_candidates(solution_config)
    for arn in recipes:
        name = arn.rsplit("/", 1)[-1]
        if arn == f"{_ARN}recipe/{name}" and name in LEGACY_HRNN:
            return (f"autoMLConfig.recipeList: {arn} is a legacy HRNN recipe, no longer available; "
                    f"use {USER_PERSONALIZATION.arn}.")
        if arn not in AUTOML_RECIPES:
            return (f"autoMLConfig.recipeList: {arn} is not a USER_PERSONALIZATION recipe AutoML can choose; "
                    f"valid: {', '.join(AUTOML_RECIPES)}.")
    if metric not in metric_names:
        return f"autoMLConfig.metricName: unknown metric {metric!r}; valid: {', '.join(metric_names)}."
    return None
