from recsys_assets.assets.export import interactions_csv, items_csv, users_csv
from recsys_assets.assets.personalize import batch_output, dataset_group, solution_version, solution_version_quality
from recsys_assets.assets.serving import recommendations_table

ALL_ASSETS = [users_csv, items_csv, interactions_csv, dataset_group, solution_version, batch_output,
              recommendations_table]

ALL_CHECKS = [solution_version_quality]
