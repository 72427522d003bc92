"""Contract tests of tagging (TagResource, UntagResource, ListTagsForResource) and of the recipes (ListRecipes,
DescribeRecipe), driven through a real boto3 ``personalize`` client on the local Personalize engine (see
``contract.py``).
"""

from __future__ import annotations

import pytest

from .contract import REGION_PREFIX, UP_V2, assert_gone, make_group

# ---- tags ------------------------------------------------------------------------------------------


def test_tags_given_on_create_are_listed(personalize):
    arn = make_group(personalize, tags=[{"tagKey": "team", "tagValue": "recsys"},
                                        {"tagKey": "cost-center", "tagValue": "42"}])
    tags = personalize.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted((t["tagKey"], t["tagValue"]) for t in tags) == [("cost-center", "42"), ("team", "recsys")]


def test_tag_and_untag_resource(personalize):
    arn = make_group(personalize, tags=[{"tagKey": "team", "tagValue": "recsys"}])
    personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "env", "tagValue": "test"},
                                                    {"tagKey": "team", "tagValue": "search"}])
    tags = {t["tagKey"]: t["tagValue"] for t in personalize.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags == {"env": "test", "team": "search"}  # re-tagging a key replaces its value
    personalize.untag_resource(resourceArn=arn, tagKeys=["team", "never-set"])
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [{"tagKey": "env", "tagValue": "test"}]
    for call in (lambda a: personalize.tag_resource(resourceArn=a, tags=[{"tagKey": "a", "tagValue": "b"}]),
                 lambda a: personalize.untag_resource(resourceArn=a, tagKeys=["a"]),
                 lambda a: personalize.list_tags_for_resource(resourceArn=a)):
        with pytest.raises(personalize.exceptions.ResourceNotFoundException):
            call(REGION_PREFIX + "dataset-group/nope")


def test_tag_operations_on_a_deleted_resource_not_found(personalize):
    # Like describe, the tag operations see a completed deletion (ACTIVE/gone on the next call).
    arn = make_group(personalize, tags=[{"tagKey": "team", "tagValue": "recsys"}])
    personalize.delete_dataset_group(datasetGroupArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.list_tags_for_resource(resourceArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "env", "tagValue": "test"}])
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.untag_resource(resourceArn=arn, tagKeys=["team"])
    # A new group of the same name starts without the old one's tags.
    assert personalize.list_tags_for_resource(resourceArn=make_group(personalize))["tags"] == []


def test_tagging_a_resource_being_deleted_is_in_use(make_personalize):
    group = make_group(make_personalize(), tags=[{"tagKey": "team", "tagValue": "recsys"}])
    slow = make_personalize(transition_seconds=30)
    slow.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(slow.exceptions.ResourceInUseException):
        slow.tag_resource(resourceArn=group, tags=[{"tagKey": "env", "tagValue": "test"}])
    with pytest.raises(slow.exceptions.ResourceInUseException):
        slow.untag_resource(resourceArn=group, tagKeys=["team"])
    # Reading them still works: a teardown checks ownership of what it is waiting on.
    assert slow.list_tags_for_resource(resourceArn=group)["tags"] == [{"tagKey": "team", "tagValue": "recsys"}]


def test_fifty_tags_per_resource(personalize):
    fifty = [{"tagKey": f"k{i}", "tagValue": "v"} for i in range(50)]
    with pytest.raises(personalize.exceptions.TooManyTagsException):
        personalize.create_dataset_group(name="shop", tags=fifty + [{"tagKey": "k50", "tagValue": "v"}])
    assert_gone(personalize.describe_dataset_group, datasetGroupArn=REGION_PREFIX + "dataset-group/shop")
    arn = make_group(personalize, tags=fifty)
    personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "k0", "tagValue": "replaced"}])  # not a new key
    with pytest.raises(personalize.exceptions.TooManyTagsException):
        personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "k50", "tagValue": "v"}])
    with pytest.raises(personalize.exceptions.TooManyTagKeysException):
        personalize.untag_resource(resourceArn=arn, tagKeys=[f"k{i}" for i in range(51)])
    assert len(personalize.list_tags_for_resource(resourceArn=arn)["tags"]) == 50


@pytest.mark.parametrize("tag", [{"tagKey": "aws:owner", "tagValue": "x"}, {"tagKey": "owner", "tagValue": "AWS:x"},
                                 {"tagKey": "bad*key", "tagValue": "x"}])
def test_invalid_tag_rejected_and_group_not_created(personalize, tag):
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset_group(name="shop", tags=[tag])
    assert_gone(personalize.describe_dataset_group, datasetGroupArn=REGION_PREFIX + "dataset-group/shop")


# ---- recipes ---------------------------------------------------------------------------------


def test_list_and_describe_recipes(personalize):
    listed = personalize.list_recipes(recipeProvider="SERVICE")["recipes"]
    assert UP_V2 in [r["recipeArn"] for r in listed]
    assert all(r["status"] == "ACTIVE" for r in listed)
    recipe = personalize.describe_recipe(recipeArn=UP_V2)["recipe"]
    assert (recipe["name"], recipe["recipeType"]) == ("aws-user-personalization-v2", "USER_PERSONALIZATION")
    assert recipe["algorithmArn"] == "arn:aws:personalize:::algorithm/aws-user-personalization-v2"
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-no-such-recipe")


def test_list_recipes_by_domain(personalize):
    everything = personalize.list_recipes()["recipes"]
    ecommerce = personalize.list_recipes(domain="ECOMMERCE")["recipes"]
    assert ecommerce and {r["domain"] for r in ecommerce} == {"ECOMMERCE"}
    assert all(r["name"].startswith("aws-ecomm-") for r in ecommerce)
    assert {r["recipeArn"] for r in ecommerce} < {r["recipeArn"] for r in everything}
    assert UP_V2 not in {r["recipeArn"] for r in ecommerce}
    vod = personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-vod-top-picks")["recipe"]
    assert (vod["name"], vod["status"]) == ("aws-vod-top-picks", "ACTIVE")


def test_list_recipes_pages(personalize):
    everything = [r["recipeArn"] for r in personalize.list_recipes()["recipes"]]
    paged = [r["recipeArn"] for page in personalize.get_paginator("list_recipes").paginate(
        PaginationConfig={"PageSize": 1}) for r in page["recipes"]]
    assert paged == everything and len(everything) > 1
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.list_recipes(maxResults=101)
