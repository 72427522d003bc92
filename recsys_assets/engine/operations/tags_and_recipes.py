"""Tags, and the recipe catalogue (ListRecipes, DescribeRecipe)."""

from __future__ import annotations

from recsys_assets.engine.core import ServiceCore
from recsys_assets.engine.errors import ServiceError, not_found
from recsys_assets.engine.operations.generic import decode_token, encode_token
from recsys_assets.engine.recipes.catalogue import DOMAIN_OF, RECIPE_EPOCH, RECIPES, get_recipe
from recsys_assets.personalize_rules.limits import MAX_TAGS_PER_RESOURCE


def tag_resource(svc: ServiceCore, p: dict) -> dict:
    with svc.transaction() as txn:
        svc.tag(txn, svc.taggable(txn, p["resourceArn"]), p["tags"])
    return {}


def untag_resource(svc: ServiceCore, p: dict) -> dict:
    if len(set(p["tagKeys"])) > MAX_TAGS_PER_RESOURCE:
        raise ServiceError("TooManyTagKeysException",
                           f"The request contains more tag keys than can be associated with a resource "
                           f"({MAX_TAGS_PER_RESOURCE} tag keys per resource).")
    with svc.transaction() as txn:
        txn.remove_tags(svc.taggable(txn, p["resourceArn"]).arn, p["tagKeys"])
    return {}


def list_tags_for_resource(svc: ServiceCore, p: dict) -> dict:
    with svc.transaction() as txn:
        res = svc.get(txn, p["resourceArn"])
        return {"tags": [{"tagKey": k, "tagValue": v} for k, v in txn.tags(res.arn).items()]}


def list_recipes(svc: ServiceCore, p: dict) -> dict:
    max_results = p.get("maxResults", 100)
    offset = decode_token(p.get("nextToken"), "recipe")
    domain = p.get("domain")
    found = [] if domain else [_recipe_summary(r.name, r.arn) for r in RECIPES.values()]
    found += [_recipe_summary(arn.rsplit("/", 1)[1], arn, d) for arn, d in DOMAIN_OF.items() if domain in (None, d)]
    out: dict = {"recipes": found[offset : offset + max_results]}
    if offset + max_results < len(found):
        out["nextToken"] = encode_token(offset + max_results, "recipe")
    return out


def describe_recipe(svc: ServiceCore, p: dict) -> dict:
    arn = p["recipeArn"]
    if arn in DOMAIN_OF:
        return {"recipe": {**_recipe_summary(arn.rsplit("/", 1)[1], arn, DOMAIN_OF[arn]),
                           "description": f"A {DOMAIN_OF[arn]} domain use case, for recommenders."}}
    try:
        recipe = get_recipe(arn)
    except KeyError:
        raise not_found(arn) from None
    return {"recipe": {**_recipe_summary(recipe.name, recipe.arn), "algorithmArn": recipe.algorithm_arn,
                       "featureTransformationArn": recipe.feature_transformation_arn,
                       "description": recipe.description, "recipeType": recipe.recipe_type}}


def _recipe_summary(name: str, arn: str, domain: str | None = None) -> dict:
    out = {"name": name, "recipeArn": arn, "status": "ACTIVE", "creationDateTime": RECIPE_EPOCH,
           "lastUpdatedDateTime": RECIPE_EPOCH}
    return {**out, "domain": domain} if domain else out


OPERATIONS = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
    "ListRecipes": list_recipes,
    "DescribeRecipe": describe_recipe,
}
