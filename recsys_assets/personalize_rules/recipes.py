"""Published facts about Personalize's custom recipes that a pipeline must know before it pays for one.

[personalize-api.md §4]; https://docs.aws.amazon.com/personalize/latest/dg/working-with-predefined-recipes.html
"""

from __future__ import annotations

import re

RECIPE_ARN_PATTERN = re.compile(r"^arn:aws:personalize:::recipe/([a-z0-9-]+)$")
# Batch inference jobs whose input is one {"userId": ...} per line: USER_PERSONALIZATION recipes
# (aws-trending-now has no batch inference; domain recipes serve recommenders only).
USER_BATCH_RECIPES = ("aws-user-personalization", "aws-user-personalization-v2", "aws-popularity-count")
# "User-Personalization-v2 uses a different pricing model than other recipes": training is billed on the
# item interactions, counted before event filtering
# (https://docs.aws.amazon.com/personalize/latest/dg/native-recipe-user-personalization-v2.html,
#  https://docs.aws.amazon.com/personalize/latest/dg/event-values-types.html).
INTERACTION_BILLED_RECIPES = ("aws-user-personalization-v2", "aws-personalized-ranking-v2")
# The hyperparameters each recipe documents (algorithm and feature-transformation ones); the local engine
# adds its own, which the service would refuse.
# https://docs.aws.amazon.com/personalize/latest/dg/native-recipe-new-item-USER_PERSONALIZATION.html,
# https://docs.aws.amazon.com/personalize/latest/dg/native-recipe-user-personalization-v2.html
DOCUMENTED_HYPERPARAMETERS = {
    "aws-user-personalization": ("hidden_dimension", "bptt", "recency_mask", "min_user_history_length_percentile",
                                 "max_user_history_length_percentile"),
    "aws-user-personalization-v2": ("apply_recency_bias",),
    "aws-popularity-count": (),
}


def recipe_name(recipe_arn: str) -> str | None:
    match = RECIPE_ARN_PATTERN.match(recipe_arn or "")
    return match.group(1) if match else None


def is_billed_by_interactions(recipe_arn: str) -> bool:
    return recipe_name(recipe_arn) in INTERACTION_BILLED_RECIPES
