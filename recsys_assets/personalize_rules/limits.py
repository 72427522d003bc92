"""Quotas and request limits of Amazon Personalize, per account and region unless said otherwise.

Source: [DG:limits], https://docs.aws.amazon.com/personalize/latest/dg/limits.html (adjustable quotas are
the defaults of a new account), and the service model's maximums where it has them [BC].
"""

from __future__ import annotations

GB = 1024**3

# Resources per account and region (active ones; those being deleted no longer count).
MAX_DATASET_GROUPS = 5  # adjustable
MAX_SCHEMAS = 500
# Per dataset group.
MAX_SOLUTIONS_PER_GROUP = 10  # adjustable
MAX_CAMPAIGNS_PER_GROUP = 5  # adjustable
MAX_FILTERS_PER_GROUP = 30  # adjustable
# Jobs PENDING or IN_PROGRESS at once, per account and region. Import jobs' 5 is not adjustable.
MAX_JOBS_IN_FLIGHT = {"dataset-import-job": 5, "batch-inference-job": 5, "solution-version": 20}
MAX_TAGS_PER_RESOURCE = 50

# Bulk data per import job.
MAX_IMPORT_BYTES = {"FULL": 100 * GB, "INCREMENTAL": 1 * GB}

# Batch inference and GetRecommendations.
MAX_NUM_RESULTS = 500
MAX_RANKING_ITEMS = 500  # GetPersonalizedRanking's inputList, and a batch line's itemList

# Filters.
MAX_FILTER_EXPRESSION_CHARS = 2500  # [BC] FilterExpression
MAX_FIELDS_PER_FILTER = 10
MAX_FIELDS_PER_GROUP_FILTERS = 20  # distinct dataset fields across all filters of a dataset group
RECENT_INTERACTIONS_PER_EVENT_TYPE = 100  # what Interactions conditions see of each user's history
MAX_FILTER_VALUES = 25  # placeholders given per request
MAX_FILTER_VALUE_CHARS = 1000

# Training.
MAX_HPO_TRAINING_JOBS = 40  # hpoResourceConfig.maxNumberOfTrainingJobs
MAX_HPO_PARALLEL_TRAINING_JOBS = 10  # hpoResourceConfig.maxParallelTrainingJobs
MAX_TRAINING_INTERVAL_DAYS = 30  # autoTrainingConfig.schedulingExpression rate(N days)
