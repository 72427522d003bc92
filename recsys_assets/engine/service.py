"""The Personalize control plane as the local engine serves it.

``LocalPersonalize.handle(operation, params)`` takes an operation name and its JSON parameters, which
botocore has serialized and partly validated (required members, types, minimums), and returns the JSON
response, or raises ``ServiceError`` with the code and message the service would send. It adds what
botocore leaves to the server: the service model's constraints (``constraints``), then the operation's
own rules (``operations``: cross-resource rules, status preconditions, quotas, name uniqueness), with the
deletion order in ``deletion`` and the statuses' movement in ``lifecycle``. An operation the engine does not
implement answers InvalidInputException naming it, so ``except ClientError`` handles it as any service error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from recsys_assets.engine.constraints import request_errors
from recsys_assets.engine.constraints import service_model as default_service_model
from recsys_assets.engine.core import ServiceCore
from recsys_assets.engine.errors import invalid
from recsys_assets.engine.operations import OPERATIONS, generic


class LocalPersonalize(ServiceCore):
    def __init__(self, root: str | Path, store_config: dict, *, region: str = "us-east-1",
                 transition_seconds: float = 0.0, service_model=None):
        super().__init__(root, store_config, region=region, transition_seconds=transition_seconds)
        self.service_model = service_model or default_service_model()

    def handle(self, operation: str, params: dict) -> dict:
        try:
            handler = self._route(operation)
        except NotImplementedError as e:
            # A modeled error, so ``except ClientError`` catches it; botocore validated the request already.
            raise invalid(str(e)) from None
        problem = request_errors(self.service_model.operation_model(operation), params)
        if problem:
            raise invalid(problem)
        return handler(self, params)

    @staticmethod
    def _route(operation: str) -> Callable[[ServiceCore, dict], dict]:
        handler = OPERATIONS.get(operation) or generic.route(operation)
        if handler is None:
            raise NotImplementedError(f"The local Personalize engine does not implement {operation}.")
        return handler

