"""Every Personalize resource type as one row: how its operations are named and what its payloads hold.

Describe, list and delete are generic over this table; only creates and updates are written per type.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str  # catalog kind, also the resource type in its ARN
    op: str  # the operation noun: Describe<op>, List<op>s, Delete<op>
    arn_key: str
    wrapper: str  # describe_* wraps the resource in this key
    list_key: str
    list_parent: str | None  # the List* parameter that restricts to a parent
    summary: tuple[str, ...]  # body fields the List* summaries carry
    name_key: str = "name"
    has_status: bool = True
    taggable: bool = True
    worker: bool = False  # created by a worker process rather than by time
    update_key: str | None = None  # the latest<X>Update summary an Update<op> call starts
    creatable: bool = True  # False: the engine cannot create these; List answers truthfully, empty


KINDS = {
    k.name: k
    for k in (
        Kind("dataset-group", "DatasetGroup", "datasetGroupArn", "datasetGroup", "datasetGroups", None,
             ("failureReason", "domain")),
        Kind("schema", "Schema", "schemaArn", "schema", "schemas", None, ("domain",),
             has_status=False, taggable=False),
        Kind("dataset", "Dataset", "datasetArn", "dataset", "datasets", "datasetGroupArn", ("datasetType",),
             update_key="latestDatasetUpdate"),
        Kind("dataset-import-job", "DatasetImportJob", "datasetImportJobArn", "datasetImportJob",
             "datasetImportJobs", "datasetArn", ("failureReason", "importMode"), name_key="jobName", worker=True),
        Kind("solution", "Solution", "solutionArn", "solution", "solutions", "datasetGroupArn", ("recipeArn",),
             update_key="latestSolutionUpdate"),
        Kind("solution-version", "SolutionVersion", "solutionVersionArn", "solutionVersion", "solutionVersions",
             "solutionArn", ("trainingMode", "trainingType", "failureReason"), worker=True),
        Kind("filter", "Filter", "filterArn", "filter", "Filters", "datasetGroupArn",
             ("datasetGroupArn", "failureReason")),
        Kind("batch-inference-job", "BatchInferenceJob", "batchInferenceJobArn", "batchInferenceJob",
             "batchInferenceJobs", "solutionVersionArn", ("failureReason", "solutionVersionArn",
                                                          "batchInferenceJobMode"),
             name_key="jobName", worker=True),
        Kind("campaign", "Campaign", "campaignArn", "campaign", "campaigns", "solutionArn", ("failureReason",),
             update_key="latestCampaignUpdate"),
        Kind("event-tracker", "EventTracker", "eventTrackerArn", "eventTracker", "eventTrackers", "datasetGroupArn",
             ()),
        Kind("recommender", "Recommender", "recommenderArn", "recommender", "recommenders", "datasetGroupArn", (),
             creatable=False),
        Kind("metric-attribution", "MetricAttribution", "metricAttributionArn", "metricAttribution",
             "metricAttributions", "datasetGroupArn", (), creatable=False),
        Kind("batch-segment-job", "BatchSegmentJob", "batchSegmentJobArn", "batchSegmentJob", "batchSegmentJobs",
             "solutionVersionArn", (), name_key="jobName", creatable=False),
        Kind("dataset-export-job", "DatasetExportJob", "datasetExportJobArn", "datasetExportJob",
             "datasetExportJobs", "datasetArn", (), name_key="jobName", creatable=False),
        Kind("data-deletion-job", "DataDeletionJob", "dataDeletionJobArn", "dataDeletionJob", "dataDeletionJobs",
             "datasetGroupArn", (), name_key="jobName", creatable=False),
    )
}
BY_OP = {k.op: k for k in KINDS.values()}
BY_LIST_OP = {f"{k.op}s": k for k in KINDS.values()}
# The kind each List* parent parameter names.
PARENT_KINDS = {"datasetGroupArn": "dataset-group", "datasetArn": "dataset", "solutionArn": "solution",
                "solutionVersionArn": "solution-version"}
