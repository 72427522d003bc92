"""Contract tests of filters and batch inference jobs, driven through a real boto3 ``personalize`` client on the
local Personalize engine (see ``contract.py``).
"""

from __future__ import annotations

from dataclasses import replace

import botocore.exceptions
import pytest

from recsys_assets.engine.recipes import catalogue

from .contract import (
    EVENT_FILTER,
    REGION_PREFIX,
    ROLE_ARN,
    UP_V2,
    assert_gone,
    avro,
    batch_job,
    error_message,
    insert_version,
    make_dataset,
    make_group,
    make_schema,
    make_solution,
)

# ---- filters ---------------------------------------------------------------------------------------


def test_filter_create_describe_list_delete(personalize):
    group = make_group(personalize)
    make_dataset(personalize, group, "interactions")
    arn = personalize.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER,
                                    tags=[{"tagKey": "team", "tagValue": "recsys"}])["filterArn"]
    assert arn == REGION_PREFIX + "filter/no-clicks"
    flt = personalize.describe_filter(filterArn=arn)["filter"]
    assert (flt["name"], flt["status"], flt["datasetGroupArn"], flt["filterExpression"]) == (
        "no-clicks", "ACTIVE", group, EVENT_FILTER)
    response = personalize.list_filters(datasetGroupArn=group)
    assert "filters" not in response  # the service's one non-camelCase list key [§0]
    assert [(f["filterArn"], f["datasetGroupArn"]) for f in response["Filters"]] == [(arn, group)]
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER)
    personalize.delete_filter(filterArn=arn)
    assert_gone(personalize.describe_filter, filterArn=arn)


ITEMS_WITH_FLAGS = avro("Items", {"name": "ITEM_ID", "type": "string"},
                        {"name": "GENRE", "type": "string", "categorical": True},
                        {"name": "PRICE", "type": "float"}, {"name": "IN_STOCK", "type": "boolean"},
                        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True})


@pytest.mark.parametrize(
    "expression, message",
    [
        ('EXCLUDE ItemID WHERE Items.GENRE NOT IN ($GENRE)',
         "Could not create filter. Invalid input symbol: $GENRE. Placeholders are not allowed with NOT_IN operator."),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("a") AND Interactions.EVENT_TYPE IN ("click")',
         "Could not create filter. Invalid Expression: you can't use Items and Interactions datasets in one expression"),
        ('INCLUDE ItemID WHERE Items.COLOR IN ("red")',
         "Could not create filter. Invalid Expression: COLOR is not a field of the Items dataset schema."),
        ('INCLUDE ItemID WHERE Items.IN_STOCK IN ("true")',
         "Could not create filter. Invalid Expression: Items.IN_STOCK is a boolean field"),
        ('EXCLUDE ItemID WHERE Items.DESCRIPTION IN ("red")',
         "Could not create filter. Invalid Expression: Items.DESCRIPTION is a textual field"),
        ('EXCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE > 18',
         "Could not create filter. Invalid Expression: Users.AGE needs the dataset group's Users dataset"),
    ],
)
def test_invalid_filter_expressions_rejected_at_create(personalize, expression, message):
    group = make_group(personalize)
    make_dataset(personalize, group, "interactions")
    make_dataset(personalize, group, "items", make_schema(personalize, "items", text=ITEMS_WITH_FLAGS))
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        personalize.create_filter(name="f", datasetGroupArn=group, filterExpression=expression)
    assert error_message(e).startswith(message)
    assert personalize.list_filters(datasetGroupArn=group)["Filters"] == []


def test_filter_preconditions(make_personalize):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_filter(name="f", datasetGroupArn=REGION_PREFIX + "dataset-group/nope", filterExpression=EVENT_FILTER)
    pending = slow.create_dataset_group(name="pending")["datasetGroupArn"]
    with pytest.raises(c.exceptions.ResourceInUseException):
        c.create_filter(name="f", datasetGroupArn=pending, filterExpression=EVENT_FILTER)
    with pytest.raises(c.exceptions.InvalidInputException, match="needs the dataset group's Interactions dataset"):
        c.create_filter(name="f", datasetGroupArn=make_group(c), filterExpression=EVENT_FILTER)


def test_filter_quota_of_thirty_per_group(personalize):
    group = make_group(personalize)
    make_dataset(personalize, group, "interactions")
    for i in range(30):
        personalize.create_filter(name=f"f{i}", datasetGroupArn=group,
                                  filterExpression=f'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("e{i}")')
    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.create_filter(name="f30", datasetGroupArn=group, filterExpression=EVENT_FILTER)
    personalize.delete_filter(filterArn=REGION_PREFIX + "filter/f0")  # deleting frees a slot at once
    personalize.create_filter(name="f30", datasetGroupArn=group, filterExpression=EVENT_FILTER)


def test_twenty_distinct_fields_across_a_groups_filters(personalize):
    group = make_group(personalize)
    fields = [{"name": f"F{i}", "type": ["null", "string"], "categorical": True} for i in range(21)]
    make_dataset(personalize, group, "items", make_schema(personalize, "items", text=avro(
        "Items", {"name": "ITEM_ID", "type": "string"}, *fields)))

    def expression(numbers):
        return " | ".join(f'EXCLUDE ItemID WHERE Items.F{i} IN ("x")' for i in numbers)

    personalize.create_filter(name="a", datasetGroupArn=group, filterExpression=expression(range(10)))
    personalize.create_filter(name="b", datasetGroupArn=group, filterExpression=expression(range(5, 15)))
    personalize.create_filter(name="c", datasetGroupArn=group, filterExpression=expression(range(15, 20)))
    with pytest.raises(personalize.exceptions.LimitExceededException) as e:
        personalize.create_filter(name="d", datasetGroupArn=group, filterExpression=expression([20]))
    assert "would use 21 distinct dataset fields; the maximum is 20" in error_message(e)
    personalize.create_filter(name="d", datasetGroupArn=group, filterExpression=expression([0, 19]))


# ---- batch inference jobs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"jobInput": {"s3DataSource": {"path": "https://bucket/in/"}}}, "Invalid S3 input path"),
        ({"jobOutput": {"s3DataDestination": {"path": "s3://bucket/batch/in"}}}, "Invalid S3 output path"),
        ({"numResults": 0}, "numResults must be between 1 and 500."),
        ({"numResults": 501}, "numResults must be between 1 and 500."),
    ],
)
def test_batch_job_request_errors(personalize, trained, kwargs, message):
    version = trained[2]
    params = {"jobName": "recs", "solutionVersionArn": version, "roleArn": ROLE_ARN,
              "jobInput": {"s3DataSource": {"path": "s3://bucket/batch/in/"}},
              "jobOutput": {"s3DataDestination": {"path": "s3://bucket/batch/out/"}}, **kwargs}
    with pytest.raises(personalize.exceptions.InvalidInputException) as e:
        personalize.create_batch_inference_job(**params)
    assert error_message(e) == message
    assert personalize.list_batch_inference_jobs()["batchInferenceJobs"] == []


def test_batch_job_preconditions(personalize, trained, engine_root, monkeypatch):
    c = personalize
    group, solution, version = trained
    training = insert_version(engine_root, solution, group, "CREATE IN_PROGRESS", "00000001")
    with pytest.raises(c.exceptions.ResourceInUseException):
        batch_job(c, training)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        batch_job(c, solution + "/ffffffff")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        batch_job(c, version, filterArn=REGION_PREFIX + "filter/nope")
    with pytest.raises(c.exceptions.InvalidInputException, match="THEME_GENERATION"):
        batch_job(c, version, batchInferenceJobMode="THEME_GENERATION",
                  themeGenerationConfig={"fieldsForThemeGeneration": {"itemName": "TITLE"}})

    def make_filter(name, expression, group_arn=group):
        return c.create_filter(name=name, datasetGroupArn=group_arn, filterExpression=expression)["filterArn"]

    users_filter = make_filter("adults", "INCLUDE UserID WHERE Users.AGE >= 18")
    with pytest.raises(c.exceptions.InvalidInputException, match="needs an ItemID filter"):
        batch_job(c, version, filterArn=users_filter)
    cheaper = make_filter("cheaper", "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE")
    with pytest.raises(c.exceptions.InvalidInputException, match="CurrentItem filters apply only to related-items"):
        batch_job(c, version, filterArn=cheaper)
    other_group = make_group(c, "other")
    make_dataset(c, other_group, "interactions")
    with pytest.raises(c.exceptions.InvalidInputException, match="another dataset group"):
        batch_job(c, version, filterArn=make_filter("elsewhere", EVENT_FILTER, other_group))
    # Trending-Now recommends without a batch input: the service refuses its batch jobs.
    trending = "arn:aws:personalize:::recipe/aws-trending-now"
    monkeypatch.setitem(catalogue.RECIPES, trending, replace(catalogue.get_recipe(UP_V2), name="aws-trending-now",
                                                          arn=trending, batch_input=None))
    trending_version = insert_version(engine_root, make_solution(c, group, "trending", recipe=trending), group,
                                      recipe=trending)
    with pytest.raises(c.exceptions.InvalidInputException,
                       match="You can't get batch recommendations with the aws-trending-now recipe"):
        batch_job(c, trending_version)
    assert c.list_batch_inference_jobs()["batchInferenceJobs"] == []


SIMS = "arn:aws:personalize:::recipe/aws-similar-items"


def test_theme_generation_is_refused_with_a_modeled_error_after_the_request_checks(personalize, trained,
                                                                                   engine_root):
    c = personalize
    group, _, _ = trained
    sims = insert_version(engine_root, make_solution(c, group, "sims", recipe=SIMS), group, recipe=SIMS)
    themes = {"batchInferenceJobMode": "THEME_GENERATION",
              "themeGenerationConfig": {"fieldsForThemeGeneration": {"itemName": "TITLE"}}}
    # The request's own problems first: a missing item-name field, a filter that does not fit.
    with pytest.raises(c.exceptions.InvalidInputException, match="needs themeGenerationConfig"):
        batch_job(c, sims, batchInferenceJobMode="THEME_GENERATION")
    users_filter = c.create_filter(name="adults", datasetGroupArn=group,
                                   filterExpression="INCLUDE UserID WHERE Users.AGE >= 18")["filterArn"]
    with pytest.raises(c.exceptions.InvalidInputException, match="needs an ItemID filter"):
        batch_job(c, sims, filterArn=users_filter, **themes)
    # A valid request: the feature is refused as any modeled error, which `except ClientError` catches.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        batch_job(c, sims, **themes)
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert "does not support theme generation" in error_message(e)
    assert c.list_batch_inference_jobs()["batchInferenceJobs"] == []


def test_batch_output_may_sit_next_to_its_input(personalize, trained):
    # AWS's batch notebook: input s3://bucket/input.json, output s3://bucket/ (AWS only recommends a separate
    # folder). The job's files: test_batch.py::test_output_may_sit_next_to_its_input.
    arn = personalize.create_batch_inference_job(
        jobName="recs", solutionVersionArn=trained[2], roleArn=ROLE_ARN,
        jobInput={"s3DataSource": {"path": "s3://bucket/input.json"}},
        jobOutput={"s3DataDestination": {"path": "s3://bucket/"}})["batchInferenceJobArn"]
    job = personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    assert job["jobOutput"] == {"s3DataDestination": {"path": "s3://bucket/"}}


def test_batch_jobs_in_flight_quota_and_what_they_block(make_personalize, trained):
    c, slow = make_personalize(), make_personalize(transition_seconds=30)  # the workers sleep: jobs stay pending
    group, solution, version = trained
    flt = c.create_filter(name="no-clicks", datasetGroupArn=group, filterExpression=EVENT_FILTER)["filterArn"]
    arns = [batch_job(slow, version, "recs0", filterArn=flt, numResults=10)]
    assert arns[0] == REGION_PREFIX + "batch-inference-job/recs0"
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        batch_job(c, version, "recs0")
    arns += [batch_job(slow, version, f"recs{i}") for i in range(1, 5)]
    with pytest.raises(c.exceptions.LimitExceededException) as e:
        batch_job(c, version, "recs5")
    assert error_message(e) == "More than 5 resources with PENDING or IN_PROGRESS status."
    job = c.describe_batch_inference_job(batchInferenceJobArn=arns[0])["batchInferenceJob"]
    assert (job["jobName"], job["status"], job["filterArn"], job["numResults"], job["roleArn"],
            job["batchInferenceJobMode"]) == ("recs0", "CREATE PENDING", flt, 10, ROLE_ARN, "BATCH_INFERENCE")
    assert job["jobInput"] == {"s3DataSource": {"path": "s3://bucket/batch/in/"}}
    summaries = c.list_batch_inference_jobs(solutionVersionArn=version)["batchInferenceJobs"]
    assert [s["batchInferenceJobArn"] for s in summaries] == arns[::-1]
    assert {s["solutionVersionArn"] for s in summaries} == {version}
    # A filter in use by a job in progress can't be deleted [DG:filter-real-time]; nor can the datasets.
    with pytest.raises(c.exceptions.ResourceInUseException, match="in use by batch inference job"):
        c.delete_filter(filterArn=flt)
