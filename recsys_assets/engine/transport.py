"""Serves a real boto3 Personalize client from the local engine.

The client is created as usual and a ``before-send.personalize`` handler answers each request
before it would go on the wire: botocore has already serialized and validated it, and it parses our
response, so callers get botocore's modeled exceptions (``client.exceptions.ResourceInUseException``)
exactly as with AWS. Responses use the service's JSON 1.1 shapes; errors are HTTP 400 with
``{"__type": code, "message": ...}``.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from pathlib import Path

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from recsys_assets.engine.errors import ServiceError
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
    def __init__(self, service: LocalPersonalize):
        self.service = service

    def __call__(self, request, **_kwargs) -> AWSResponse:
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).split(".", 1)[1]
        params = json.loads(request.body or b"{}")
        try:
            status, payload = 200, self.service.handle(operation, params)
        except ServiceError as e:
            status, payload = 400, {"__type": e.code, "message": e.message}
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": str(uuid.uuid4())}
        return AWSResponse(request.url, status, headers, _Body(json.dumps(payload).encode()))


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
