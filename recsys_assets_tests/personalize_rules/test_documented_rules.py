"""Each rule of ``personalize_rules`` pinned to where Personalize publishes it.

Name and ARN patterns come from botocore's service model (which wins over any prose); quotas and data rules
from the developer guide, cited per case: [DG:limits] is
https://docs.aws.amazon.com/personalize/latest/dg/limits.html, [DG:schemas] is
https://docs.aws.amazon.com/personalize/latest/dg/custom-datasets-and-schemas.html, [DG:filters] is
https://docs.aws.amazon.com/personalize/latest/dg/filter-expressions.html. A rule that changes must change
here too, with its source.
"""

import io
import json

import botocore.session
import pandas as pd
import pytest

from recsys_assets.personalize_rules import limits, names
from recsys_assets.personalize_rules.bulk_csv import (
    DataValidationError,
    read_dataset_csv,
)
from recsys_assets.personalize_rules.filter_grammar import (
    FilterExpressionError,
    parse_filter,
)
from recsys_assets.personalize_rules.minimums import minimum_data_problems
from recsys_assets.personalize_rules.schemas import (
    SchemaValidationError,
    check_schema_for_dataset_type,
    parse_schema,
)

MODEL = botocore.session.get_session().get_service_model("personalize")


@pytest.mark.parametrize(("shape", "pattern", "maximum"), [
    ("Name", names.NAME_PATTERN, names.MAX_NAME_CHARS),
    ("Arn", names.ARN_PATTERN, names.MAX_ARN_CHARS),
    ("RoleArn", names.ROLE_ARN_PATTERN, names.MAX_ARN_CHARS),
])
def test_name_and_arn_patterns_are_the_service_models(shape, pattern, maximum):
    metadata = MODEL.shape_for(shape).metadata
    assert (metadata["pattern"], metadata["max"]) == (pattern, maximum)


def test_names_and_role_arns_as_the_model_reads_them():
    assert names.is_valid_name("recsys-1a2b3c4d_users") and names.is_valid_name("a" * 63)
    assert not names.is_valid_name("a" * 64) and not names.is_valid_name("-leading") and not names.is_valid_name("a b")
    assert names.is_valid_role_arn("arn:aws:iam::123456789012:role/service-role/Personalize")
    assert names.is_valid_role_arn("arn:aws-cn:iam::123456789012:role/p")  # every partition
    assert not names.is_valid_role_arn("arn:aws:iam::12345:role/p") and not names.is_valid_role_arn("not-a-role")


def test_filter_expression_length_is_the_service_models():
    assert MODEL.shape_for("FilterExpression").metadata["max"] == limits.MAX_FILTER_EXPRESSION_CHARS


# [DG:limits], "Service quotas": the account's and dataset group's defaults.
@pytest.mark.parametrize(("value", "documented"), [
    (limits.MAX_DATASET_GROUPS, 5),  # active dataset groups per region
    (limits.MAX_SCHEMAS, 500),  # active schemas
    (limits.MAX_SOLUTIONS_PER_GROUP, 10),  # active solutions per dataset group
    (limits.MAX_CAMPAIGNS_PER_GROUP, 5),  # active campaigns per dataset group
    (limits.MAX_FILTERS_PER_GROUP, 30),  # filters per dataset group
    (limits.MAX_JOBS_IN_FLIGHT["dataset-import-job"], 5),  # pending or in-progress import jobs
    (limits.MAX_JOBS_IN_FLIGHT["batch-inference-job"], 5),  # pending or in-progress batch inference jobs
    (limits.MAX_JOBS_IN_FLIGHT["solution-version"], 20),  # pending or in-progress solution versions
    (limits.MAX_IMPORT_BYTES["FULL"], 100 * limits.GB),  # bulk data per FULL import job
    (limits.MAX_IMPORT_BYTES["INCREMENTAL"], 1 * limits.GB),  # bulk data per INCREMENTAL import job
    (limits.MAX_NUM_RESULTS, 500),  # recommendations per user (GetRecommendations, batch)
    (limits.MAX_FIELDS_PER_FILTER, 10),  # distinct dataset fields per filter
    (limits.MAX_FIELDS_PER_GROUP_FILTERS, 20),  # distinct dataset fields across a group's filters
    (limits.RECENT_INTERACTIONS_PER_EVENT_TYPE, 100),  # interactions per user and event type a filter sees
    (limits.MAX_TAGS_PER_RESOURCE, 50),  # tags per resource [DG:tagging-resources]
])
def test_quotas_are_the_documented_defaults(value, documented):
    assert value == documented


def test_minimum_data_as_documented():
    # [DG:limits]: at least 1000 interactions after event filtering, 25 users with 2+ interactions, and 1 % of
    # the users with 2+; the failure texts are the service's [DG:error-messages].
    def users(counts):
        return pd.DataFrame({"USER_ID": [f"u{i}" for i, n in enumerate(counts) for _ in range(n)]})

    assert minimum_data_problems(users([40] * 25)) == []
    assert minimum_data_problems(users([40] * 24 + [39])) == [
        "Create failed. Dataset has fewer than 1000 interactions (found 999)."]
    assert minimum_data_problems(users([2] * 24 + [1] * 952)) == [
        "Create failed. Dataset has fewer than 25 users with at least 2 interactions each."]
    assert "Fewer than 1% of users" in minimum_data_problems(users([2] * 30 + [1] * 3000))[0]


def _schema(record, fields):
    return parse_schema(json.dumps({"type": "record", "name": record, "fields": fields}))


def test_schema_rules_as_documented():
    # [DG:schemas]: names are unique alphanumerically (GENRES_FIELD_1 and GENRESFIELD1 clash).
    with pytest.raises(SchemaValidationError, match="same name alphanumerically"):
        _schema("Items", [{"name": "GENRES_FIELD_1", "type": "string"}, {"name": "GENRESFIELD1", "type": "string"}])
    # Required fields with their types: Interactions USER_ID, ITEM_ID (string), TIMESTAMP (long).
    with pytest.raises(SchemaValidationError, match="TIMESTAMP must be of type long"):
        check_schema_for_dataset_type(_schema("Interactions", [
            {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "int"}]), "INTERACTIONS")
    # [DG:limits]: at most 25 metadata fields in Users, 100 in Items, 5 in Interactions.
    for dataset_type, id_field, limit in (("USERS", "USER_ID", 25), ("ITEMS", "ITEM_ID", 100)):
        fields = [{"name": id_field, "type": "string"}] + [{"name": f"F{i}", "type": "int"} for i in range(limit)]
        check_schema_for_dataset_type(_schema(dataset_type.title(), fields), dataset_type)
        fields.append({"name": "ONE_MORE", "type": "int"})
        with pytest.raises(SchemaValidationError, match=f"the maximum is {limit}"):
            check_schema_for_dataset_type(_schema(dataset_type.title(), fields), dataset_type)


def test_csv_value_limits_as_documented():
    # [DG:limits]: IDs at most 256 characters; categorical and other string values at most 1000.
    schema = _schema("Items", [{"name": "ITEM_ID", "type": "string"},
                               {"name": "GENRES", "type": "string", "categorical": True}])

    def read(item, genres):
        return read_dataset_csv(io.BytesIO(f"ITEM_ID,GENRES\n{item},{genres}\n".encode()), schema, "ITEMS",
                                source="s3://b/items.csv")

    assert len(read("i" * 256, "g" * 1000)) == 1
    with pytest.raises(DataValidationError, match="more than 256 characters for ITEM_ID"):
        read("i" * 257, "g")
    with pytest.raises(DataValidationError, match="more than 1000 characters for GENRES"):
        read("i", "g" * 1001)


def test_filter_limits_as_documented():
    # [DG:filters]: an expression of at most 2,500 characters, at most 10 distinct fields.
    fields = " | ".join(f'EXCLUDE ItemID WHERE Items.F{i} IN ("a")' for i in range(10))
    assert len(parse_filter(fields).fields) == 10
    with pytest.raises(FilterExpressionError, match="at most 10 distinct dataset fields"):
        parse_filter(fields + ' | EXCLUDE ItemID WHERE Items.F10 IN ("a")')
    long = 'EXCLUDE ItemID WHERE Items.GENRE IN ("' + "a" * 2500 + '")'
    with pytest.raises(FilterExpressionError, match="the maximum is 2500"):
        parse_filter(long)
