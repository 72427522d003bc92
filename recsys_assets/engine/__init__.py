"""The local Personalize engine: the Personalize API beneath a real boto3 client, trained here.

- ``transport``: the botocore hook that answers a real client (``local_client``)
- ``service``: the operations, their rules, quotas and lifecycle
- ``catalog``: durable state in SQLite, shared by every process
- ``worker``: import, training and batch jobs, each in its own process
- ``validation``: Avro schema rules, CSV content rules, minimum data
- ``recipes``: the recommenders (``algorithms``, ``models``); ``metrics``: GetSolutionMetrics
- ``kernels``: compiled loops (numba) for top-k, the softmax total and batch output lines
- ``filters``: the filter-expression language; ``batch``: batch inference files
- ``storage``: s3:// object storage on a local directory or S3; ``data``: stored datasets and models
"""

__all__ = ["local_client"]


def __getattr__(name: str):
    # Imported on first use: worker processes import this package too, and need neither boto3 nor the service.
    if name == "local_client":
        from recsys_assets.engine.transport import local_client

        return local_client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
