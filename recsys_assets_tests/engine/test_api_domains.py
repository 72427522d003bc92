"""Contract tests of Domain dataset groups (``domain`` ECOMMERCE / VIDEO_ON_DEMAND), domain schemas, the datasets
that join them, and recommenders (refused with a modeled error), through a real boto3 ``personalize`` client on
the local Personalize engine (see ``contract.py``). The schema rules: [DG:ECOMMERCE-datasets-and-schemas],
[DG:VIDEO-ON-DEMAND-datasets-and-schemas] (the per-field rules are unit-tested in personalize_rules/test_schemas.py).
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from .contract import avro, error_message, make_group, make_schema

ID = {"name": "USER_ID", "type": "string"}
ECOMMERCE_INTERACTIONS = avro("Interactions", ID, {"name": "ITEM_ID", "type": "string"},
                              {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"})
ECOMMERCE_ITEMS = avro("Items", {"name": "ITEM_ID", "type": "string"}, {"name": "PRICE", "type": "float"},
                       {"name": "CATEGORY_L1", "type": "string", "categorical": True})
VOD_ITEMS = avro("Items", {"name": "ITEM_ID", "type": "string"},
                 {"name": "GENRES", "type": "string", "categorical": True},
                 {"name": "CREATION_TIMESTAMP", "type": "long"})
USERS = avro("Users", ID, {"name": "MEMBERSHIP", "type": "string", "categorical": True})
POPULAR = "arn:aws:personalize:::recipe/aws-ecomm-popular-items-by-views"


def domain_schema(client, name: str, text: str, domain: str = "ECOMMERCE") -> str:
    return client.create_schema(name=name, schema=text, domain=domain)["schemaArn"]


def create(client, group: str, schema: str, dataset_type: str) -> str:
    return client.create_dataset(name=f"{dataset_type}-{schema.rsplit('/', 1)[1]}", datasetGroupArn=group,
                                 schemaArn=schema, datasetType=dataset_type)["datasetArn"]


def test_domain_schema_describes_its_domain(personalize):
    # moto's own domain-schema test, with a valid ECOMMERCE schema: the domain is part of the description.
    arn = domain_schema(personalize, "myname", ECOMMERCE_INTERACTIONS)
    schema = personalize.describe_schema(schemaArn=arn)["schema"]
    assert (schema["name"], schema["domain"], schema["schema"]) == ("myname", "ECOMMERCE", ECOMMERCE_INTERACTIONS)
    assert [s.get("domain") for s in personalize.list_schemas()["schemas"]] == ["ECOMMERCE"]


def test_domain_dataset_group_create_describe_list(personalize):
    arn = make_group(personalize, "shop", domain="VIDEO_ON_DEMAND")
    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert (group["domain"], group["status"]) == ("VIDEO_ON_DEMAND", "ACTIVE")
    assert [g["domain"] for g in personalize.list_dataset_groups()["datasetGroups"]] == ["VIDEO_ON_DEMAND"]


def test_domain_datasets_follow_their_domain(personalize):
    group = make_group(personalize, "shop", domain="ECOMMERCE")
    for text, dataset_type in ((ECOMMERCE_INTERACTIONS, "Interactions"), (ECOMMERCE_ITEMS, "Items"),
                               (USERS, "Users")):
        dataset = create(personalize, group, domain_schema(personalize, dataset_type.lower(), text), dataset_type)
        assert personalize.describe_dataset(datasetArn=dataset)["dataset"]["status"] == "ACTIVE"


@pytest.mark.parametrize(
    "domain, text, dataset_type, message",
    [
        # ECOMMERCE and VIDEO_ON_DEMAND Interactions need EVENT_TYPE (custom ones don't).
        ("VIDEO_ON_DEMAND", avro("Interactions", ID, {"name": "ITEM_ID", "type": "string"},
                                 {"name": "TIMESTAMP", "type": "long"}),
         "Interactions", "VIDEO_ON_DEMAND Interactions schema is missing the required field EVENT_TYPE (type string)."),
        ("ECOMMERCE", avro("Items", {"name": "ITEM_ID", "type": "string"},
                           {"name": "CATEGORY_L1", "type": "string", "categorical": True}),
         "Items", "ECOMMERCE Items schema is missing the required field PRICE (type float)."),
        ("ECOMMERCE", avro("Items", {"name": "ITEM_ID", "type": "string"}, {"name": "PRICE", "type": "float"},
                           {"name": "CATEGORY_L1", "type": "string"}),
         "Items", "ECOMMERCE Items schema: required field CATEGORY_L1 must be categorical (and not textual)."),
        ("VIDEO_ON_DEMAND", ECOMMERCE_ITEMS, "Items",
         "VIDEO_ON_DEMAND Items schema is missing the required field GENRES (type string)."),
        ("ECOMMERCE", avro("Actions", {"name": "ACTION_ID", "type": "string"}, {"name": "X", "type": "long"}),
         "Actions", "ECOMMERCE Domain dataset groups have no Actions datasets; their dataset types are "
                    "Interactions, Users, Items."),
    ],
)
def test_domain_dataset_schema_rules(personalize, domain, text, dataset_type, message):
    group = make_group(personalize, "shop", domain=domain)
    schema = domain_schema(personalize, "s", text, domain)
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        create(personalize, group, schema, dataset_type)
    assert error_message(e) == message
    assert personalize.list_datasets(datasetGroupArn=group)["datasets"] == []


def test_schema_domain_must_match_the_group(personalize):
    ecommerce = make_group(personalize, "shop", domain="ECOMMERCE")
    custom = make_group(personalize, "custom")
    vod_items = domain_schema(personalize, "vod-items", VOD_ITEMS, "VIDEO_ON_DEMAND")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="created with domain VIDEO_ON_DEMAND"):
        create(personalize, ecommerce, vod_items, "Items")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="needs a schema created without a domain"):
        create(personalize, custom, vod_items, "Items")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="created without a domain"):
        create(personalize, ecommerce, make_schema(personalize, "users"), "Users")


def test_update_dataset_keeps_the_domain_rules(personalize):
    group = make_group(personalize, "shop", domain="ECOMMERCE")
    items = create(personalize, group, domain_schema(personalize, "items", ECOMMERCE_ITEMS), "Items")
    custom = make_schema(personalize, "items")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="created without a domain"):
        personalize.update_dataset(datasetArn=items, schemaArn=custom)


def test_invalid_domains_are_refused(personalize):
    # botocore does not validate enums client-side; the service does.
    with pytest.raises(personalize.exceptions.InvalidInputException, match="domain"):
        personalize.create_dataset_group(name="shop", domain="RETAIL")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="domain"):
        personalize.create_schema(name="s", schema=ECOMMERCE_ITEMS, domain="RETAIL")
    assert personalize.list_dataset_groups()["datasetGroups"] == []


# ---- recommenders: not emulated, but a modeled error ---------------------------------------------------


def test_recommenders_answer_a_modeled_error(personalize):
    group = make_group(personalize, "shop", domain="ECOMMERCE")
    create(personalize, group, domain_schema(personalize, "interactions", ECOMMERCE_INTERACTIONS), "Interactions")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        personalize.create_recommender(name="r", datasetGroupArn=group, recipeArn=POPULAR)
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert "CreateRecommender" in error_message(e)
    assert personalize.list_recommenders()["recommenders"] == []
