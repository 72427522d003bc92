"""Filters and batch inference jobs."""

from __future__ import annotations

from recsys_assets.engine.core import ServiceCore
from recsys_assets.engine.errors import check_quota, invalid, limit_exceeded, unsupported
from recsys_assets.engine.recipes.catalogue import Recipe, get_recipe
from recsys_assets.engine.statuses import DELETING
from recsys_assets.personalize_rules import schemas
from recsys_assets.personalize_rules.filter_checks import check_filter_against_schemas
from recsys_assets.personalize_rules.filter_grammar import FilterExpressionError, ParsedFilter, parse_filter
from recsys_assets.personalize_rules.limits import MAX_FIELDS_PER_GROUP_FILTERS, MAX_FILTERS_PER_GROUP, MAX_NUM_RESULTS


def create_filter(svc: ServiceCore, p: dict) -> dict:
    name = p["name"]
    parsed = _parsed_filter(p["filterExpression"])
    with svc.transaction() as txn:
        group = svc.get(txn, p["datasetGroupArn"], "dataset-group")
        svc.require_active(group, "Dataset group")
        group_schemas = {schemas.dataset_label(d.body["datasetType"]): schemas.parse_schema(
            svc.get(txn, d.body["schemaArn"], "schema").body["schema"]) for d in txn.find("dataset", group.arn)}
        try:
            check_filter_against_schemas(parsed, group_schemas)
        except FilterExpressionError as e:
            raise invalid(str(e)) from None
        existing = [f for f in txn.find("filter", group.arn) if f.status not in DELETING]
        check_quota(len(existing), MAX_FILTERS_PER_GROUP,
                    f"More than {MAX_FILTERS_PER_GROUP} filters in dataset group {group.arn}.")
        fields = parsed.fields.union(*(parse_filter(f.body["filterExpression"]).fields for f in existing))
        if len(fields) > MAX_FIELDS_PER_GROUP_FILTERS:
            raise limit_exceeded(
                f"The filters of dataset group {group.arn} would use {len(fields)} distinct dataset fields; "
                f"the maximum is {MAX_FIELDS_PER_GROUP_FILTERS}.")
        res = svc.new(txn, "filter", svc.arn(f"filter/{name}"), name, group.arn,
                        {"datasetGroupArn": group.arn, "filterExpression": p["filterExpression"]}, p.get("tags"))
    return {"filterArn": res.arn}


def create_batch_inference_job(svc: ServiceCore, p: dict) -> dict:
    name = p["jobName"]
    input_path = p["jobInput"]["s3DataSource"]["path"]
    output_path = p["jobOutput"]["s3DataDestination"]["path"]
    for label, path in (("input", input_path), ("output", output_path)):
        if not path.startswith("s3://"):
            raise invalid(f"Invalid S3 {label} path")
    if input_path.rstrip("/") == output_path.rstrip("/"):
        raise invalid("Invalid S3 output path")
    num_results = p.get("numResults", 25)
    if not 1 <= num_results <= MAX_NUM_RESULTS:
        raise invalid(f"numResults must be between 1 and {MAX_NUM_RESULTS}.")
    with svc.transaction() as txn:
        version = svc.get(txn, p["solutionVersionArn"], "solution-version")
        svc.require_active(version, "Solution version")
        recipe = get_recipe(version.body["recipeArn"])
        if recipe.batch_input is None:
            raise invalid(f"You can't get batch recommendations with the {recipe.name} recipe.")
        themes = p.get("batchInferenceJobMode", "BATCH_INFERENCE") != "BATCH_INFERENCE"
        if themes:
            if recipe.name != "aws-similar-items":
                raise invalid("Theme generation (batchInferenceJobMode THEME_GENERATION) is available only "
                              "for solution versions of the Similar-Items recipe.")
            # [DG:themed-batch-recommendations]: theme generation names the Items field holding item names.
            if not (p.get("themeGenerationConfig") or {}).get("fieldsForThemeGeneration", {}).get("itemName"):
                raise invalid("Theme generation needs themeGenerationConfig.fieldsForThemeGeneration.itemName, "
                              "the Items field with each item's name.")
        if p.get("filterArn"):
            flt = svc.get(txn, p["filterArn"], "filter")
            svc.require_active(flt, "Filter")
            if flt.parent != version.body["datasetGroupArn"]:
                raise invalid(f"Filter {flt.arn} belongs to another dataset group than the solution version.")
            _check_filter_fits(parse_filter(flt.body["filterExpression"]), recipe)
        svc.check_in_flight_quota(txn, "batch-inference-job")
        if themes:  # after the request's own checks: a bad request hears about its real problem first
            raise unsupported("theme generation (CreateBatchInferenceJob with batchInferenceJobMode "
                              "THEME_GENERATION)")
        body = {
            "solutionVersionArn": version.arn, "filterArn": p.get("filterArn"), "numResults": num_results,
            "jobInput": p["jobInput"], "jobOutput": p["jobOutput"], "roleArn": p["roleArn"],
            "batchInferenceJobConfig": p.get("batchInferenceJobConfig"),
            "batchInferenceJobMode": "BATCH_INFERENCE",
        }
        res = svc.new(txn, "batch-inference-job", svc.arn(f"batch-inference-job/{name}"), name, version.arn,
                        body, p.get("tags"))
        svc.start_worker(txn, res)
    return {"batchInferenceJobArn": res.arn}


def _parsed_filter(expression: str) -> ParsedFilter:
    try:
        return parse_filter(expression)
    except FilterExpressionError as e:
        raise invalid(str(e)) from None


def _check_filter_fits(parsed: ParsedFilter, recipe: Recipe) -> None:
    """A batch inference job recommends items: its filter must filter items, and CurrentItem needs an item input."""
    if parsed.target != "ItemID":
        raise invalid(f"The filter filters {parsed.target}s; a batch inference job of recipe {recipe.name} "
                      "needs an ItemID filter.")
    if parsed.uses_current_item and recipe.batch_input != "itemId":
        raise invalid(f"CurrentItem filters apply only to related-items recipes; {recipe.name} is not one.")


OPERATIONS = {
    "CreateFilter": create_filter,
    "CreateBatchInferenceJob": create_batch_inference_job,
}
