"""How the boto3 client describes, lists and deletes each Personalize resource type."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class ResourceType:
    noun: str  # boto3 method suffix: describe_<noun>, delete_<noun>
    arn_key: str
    wrapper: str  # describe_<noun> wraps the resource in this key
    list_key: str

    def describe(self, client, arn: str) -> dict:
        return getattr(client, f"describe_{self.noun}")(**{self.arn_key: arn})[self.wrapper]

    def delete(self, client, arn: str) -> None:
        getattr(client, f"delete_{self.noun}")(**{self.arn_key: arn})

    def list(self, client, **filters) -> list[dict]:
        paginator = client.get_paginator(f"list_{self.noun}s")
        return [item for page in paginator.paginate(**filters) for item in page[self.list_key]]

    name_key: str = "name"  # what the summaries call the name (jobs: jobName)
    # https://docs.aws.amazon.com/personalize/latest/dg/tagging-resources.html lists what takes tags; schemas and
    # metric attributions do not (their create takes none, and ListTagsForResource does not answer for them).
    taggable: bool = True

    def find(self, client, name: str, **filters) -> dict | None:
        """The summary of the resource with this name, if it exists (names are unique per type).

        Solution version summaries carry no name: each one is described until it is found."""
        for summary in self.list(client, **filters):
            if self.name_key in summary:
                if summary[self.name_key] == name:
                    return summary
            elif self.describe(client, summary[self.arn_key]).get(self.name_key) == name:
                return summary
        return None


def _t(noun: str, wrapper: str, list_key: str | None = None, name_key: str = "name",
       taggable: bool = True) -> ResourceType:
    return ResourceType(noun, f"{wrapper}Arn", wrapper, list_key or f"{wrapper}s", name_key, taggable)


DATASET_GROUP = _t("dataset_group", "datasetGroup")
SCHEMA = _t("schema", "schema", taggable=False)
DATASET = _t("dataset", "dataset")
DATASET_IMPORT_JOB = _t("dataset_import_job", "datasetImportJob", name_key="jobName")
SOLUTION = _t("solution", "solution")
SOLUTION_VERSION = _t("solution_version", "solutionVersion")
CAMPAIGN = _t("campaign", "campaign")
EVENT_TRACKER = _t("event_tracker", "eventTracker")
FILTER = _t("filter", "filter", "Filters")  # the one list key the service capitalises
BATCH_INFERENCE_JOB = _t("batch_inference_job", "batchInferenceJob", name_key="jobName")
RECOMMENDER = _t("recommender", "recommender")
METRIC_ATTRIBUTION = _t("metric_attribution", "metricAttribution", taggable=False)


def error_code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")
