"""The local Personalize engine: the Personalize API beneath a real boto3 client, trained here.

- ``transport``: the botocore hook that answers a real client (``local_client``)
- ``service``: the operations, their rules, quotas and lifecycle
- ``catalog``: durable state in SQLite, shared by every process
- ``worker``: import, training and batch jobs, each in its own process
- ``validation``: Avro schema rules, CSV content rules, minimum data
- ``recipes``: the recommenders; ``metrics``: GetSolutionMetrics
- ``filters``: the filter-expression language; ``batch``: batch inference files
- ``storage``: s3:// object storage on a local directory or S3; ``data``: stored datasets and models
"""

from recsys_assets.engine.transport import local_client

__all__ = ["local_client"]
