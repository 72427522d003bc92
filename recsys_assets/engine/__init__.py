"""The local Personalize engine: the Personalize API beneath a real boto3 client, trained here.

- ``transport``: the botocore hooks that answer real clients (``local_client``; ``local_runtime_client`` and
  ``local_events_client`` for ``personalize-runtime`` and ``personalize-events``)
- ``runtime``: campaigns answering GetRecommendations and GetPersonalizedRanking; ``events``: PutEvents,
  PutUsers, PutItems; ``endpoint``: both over HTTP (ASGI) for clients in other processes
- ``service``: routing a request through the model's constraints (``constraints``) to its handler
- ``operations``: the handlers by resource family; ``core``: what they share; ``errors``: the answers
- ``kinds``: the resource-type table; ``lifecycle``: statuses over time and worker supervision;
  ``deletion``: the deletion order; ``statuses``: the status strings
- ``catalog``: durable state in SQLite, shared by every process; ``data``: stored datasets and models
- ``worker``: import, training and batch jobs, each in its own process
- ``recipes``: the catalogue, event preparation, trainers and HPO; ``training``: prepare -> fit ->
  evaluate; ``metrics``: GetSolutionMetrics' measures; ``models``, ``algorithms``: the recommenders
- ``kernels``: compiled loops (numba) for top-k, the softmax total and batch output lines
- ``filter_evaluation``: filters applied to recommendations; ``batch``: batch inference files

The data rules (schemas, CSV, minimums, limits, filter grammar) are ``recsys_assets.personalize_rules``;
objects are read and written through ``recsys_assets.storage``. The engine imports nothing else of the
project.
"""

__all__ = ["local_client", "local_runtime_client", "local_events_client", "solution_config_problem"]


def __getattr__(name: str):
    # Imported on first use: worker processes import this package too, and need neither boto3 nor the service.
    if name in ("local_client", "local_runtime_client", "local_events_client"):
        from recsys_assets.engine import transport

        return getattr(transport, name)
    if name == "solution_config_problem":
        from recsys_assets.engine.recipes.catalogue import solution_config_problem

        return solution_config_problem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
