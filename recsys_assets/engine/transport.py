"""Serves a real boto3 Personalize client from the local engine.

The client is created as usual and a ``before-send.personalize`` handler answers each request
before it would go on the wire: botocore has already serialized and validated it, and it parses our
response, so callers get botocore's modeled exceptions (``client.exceptions.ResourceInUseException``)
exactly as with AWS. Responses use the service's JSON 1.1 shapes; errors are HTTP 400 with
``{"__type": code, "message": ...}``. ``local_runtime_client`` and ``local_events_client`` serve the REST-JSON
``personalize-runtime`` and ``personalize-events`` the same way, on the same engine root.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from recsys_assets.engine.errors import ServiceError
from recsys_assets.engine.events import LocalEvents
from recsys_assets.engine.runtime import LocalRuntime
from recsys_assets.engine.service import LocalPersonalize

# Signing happens before before-send; these never leave the process and grant nothing.
_LOCAL_CREDENTIALS = {"aws_access_key_id": "local-engine", "aws_secret_access_key": "local-engine"}


# Loading the service model costs ~0.3 s per session; one shared session makes clients cheap.
# Sessions are not thread-safe while creating clients, hence the lock (clients themselves are).
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


class _Body(io.BytesIO):
    def stream(self, **_kwargs):
        yield self.getvalue()


class LocalTransport:
    """Answers a client's requests with ``service.handle(operation, params)``.

    JSON 1.1 services (``personalize``) name the operation in ``X-Amz-Target``; REST-JSON ones
    (``personalize-runtime``, ``personalize-events``) by method and path, looked up in the client's
    service model. REST-JSON errors carry the error shape's HTTP status and ``x-amzn-ErrorType``.
    """

    def __init__(self, service, service_model=None):
        self.service = service
        self.rest = service_model is not None and service_model.protocol == "rest-json"
        self.routes, self.statuses = {}, {}
        if self.rest:
            for name in service_model.operation_names:
                http = service_model.operation_model(name).http
                self.routes[(http["method"], http["requestUri"])] = name
            for shape in (service_model.shape_for(n) for n in service_model.shape_names):
                if shape.metadata.get("exception"):
                    self.statuses[shape.name] = shape.metadata.get("error", {}).get("httpStatusCode", 400)

    def __call__(self, request, **_kwargs) -> AWSResponse:
        if self.rest:
            operation = self.routes[(request.method, urlsplit(request.url).path)]
        else:
            target = request.headers["X-Amz-Target"]
            operation = (target.decode() if isinstance(target, bytes) else target).split(".", 1)[1]
        status, headers, body = self.answer(operation, request.body)
        return AWSResponse(request.url, status, headers, _Body(body))

    def answer(self, operation: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        """The HTTP status, headers and body of the service's answer to ``operation`` with this JSON body."""
        params = json.loads(body or b"{}")
        headers = {"Content-Type": "application/json" if self.rest else "application/x-amz-json-1.1",
                   "x-amzn-RequestId": str(uuid.uuid4())}
        try:
            status, payload = 200, self.service.handle(operation, params)
        except ServiceError as e:
            status, payload = 400, {"__type": e.code, "message": e.message}
            if self.rest:
                status = self.statuses.get(e.code, 400)
                headers["x-amzn-ErrorType"] = e.code
        return status, headers, json.dumps(payload).encode()


def local_client(root: str | Path, store_config: dict, *, region: str = "us-east-1",
                 transition_seconds: float = 0.0, max_attempts: int = 3):
    """A boto3 ``personalize`` client whose requests the local engine under ``root`` answers."""
    with _SESSION_LOCK:
        client = _SESSION.client(
            "personalize", region_name=region, **_LOCAL_CREDENTIALS,
            config=Config(retries={"mode": "standard", "max_attempts": max_attempts}),
        )
    # The client's own service model: the engine checks the same constraints botocore knows.
    service = LocalPersonalize(root, store_config, region=region, transition_seconds=transition_seconds,
                               service_model=client.meta.service_model)
    client.meta.events.register("before-send.personalize", LocalTransport(service))
    return client


def _rest_client(service_name: str, engine_class, root, store_config: dict, region: str, max_attempts: int):
    with _SESSION_LOCK:
        client = _SESSION.client(
            service_name, region_name=region, **_LOCAL_CREDENTIALS,
            config=Config(retries={"mode": "standard", "max_attempts": max_attempts}),
        )
    model = client.meta.service_model
    service = engine_class(root, store_config, region=region, service_model=model)
    client.meta.events.register(f"before-send.{model.service_id.hyphenize()}", LocalTransport(service, model))
    return client


def local_runtime_client(root: str | Path, store_config: dict, *, region: str = "us-east-1", max_attempts: int = 3):
    """A boto3 ``personalize-runtime`` client (GetRecommendations, GetPersonalizedRanking) that the campaigns
    of the local engine under ``root`` answer."""
    return _rest_client("personalize-runtime", LocalRuntime, root, store_config, region, max_attempts)


def local_events_client(root: str | Path, store_config: dict, *, region: str = "us-east-1", max_attempts: int = 3):
    """A boto3 ``personalize-events`` client (PutEvents, PutUsers, PutItems) that records into the datasets
    of the local engine under ``root``."""
    return _rest_client("personalize-events", LocalEvents, root, store_config, region, max_attempts)
