"""The local engine's real-time APIs over HTTP, for an app in another process or language.

``python -m recsys_assets.engine.endpoint [--local-root .recsys] [--port 8601]`` serves ``personalize-runtime``
(GetRecommendations, GetPersonalizedRanking) and ``personalize-events`` (PutEvents, PutUsers, PutItems) on
one address, answered as the in-process clients are (``transport.LocalTransport``), so a real boto3 client
reaches it with ``endpoint_url="http://127.0.0.1:8601"``; ``GET /health`` says whether it is up. Starlette
under uvicorn: the ASGI stack the Dagster webserver already runs on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import botocore.session
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recsys_assets.engine.events import LocalEvents
from recsys_assets.engine.runtime import LocalRuntime
from recsys_assets.engine.transport import LocalTransport
from recsys_assets.storage import LocalObjectStore

SERVICES = {"personalize-runtime": LocalRuntime, "personalize-events": LocalEvents}
DEFAULT_PORT = 8601


def make_app(local_root: str | Path, *, region: str = "us-east-1") -> Starlette:
    """The endpoint for the engine under ``<local_root>/engine`` and the local S3 under ``<local_root>/s3``,
    the layout the pipeline's local backend uses."""
    root = Path(local_root)
    store = LocalObjectStore(root / "s3").config()
    models = botocore.session.get_session()
    transports = []
    for name, engine_class in SERVICES.items():
        model = models.get_service_model(name)
        transports.append(LocalTransport(engine_class(root / "engine", store, region=region, service_model=model),
                                         model))
    # (method, path) -> the transport and operation that answer it; the two services' paths don't overlap.
    routes = {key: (t, operation) for t in transports for key, operation in t.routes.items()}

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "engine_root": str(root / "engine")})

    async def answer(request: Request) -> Response:
        found = routes.get((request.method, request.url.path))
        if found is None:
            return JSONResponse({"message": f"no operation at {request.method} {request.url.path}"}, 404,
                                headers={"x-amzn-ErrorType": "UnknownOperationException"})
        transport, operation = found
        # Scoring and catalog reads block: off the event loop.
        status, headers, body = await run_in_threadpool(transport.answer, operation, await request.body())
        return Response(body, status, headers)

    return Starlette(routes=[Route("/health", health, methods=["GET"]),
                             Route("/{path:path}", answer, methods=["GET", "POST", "PUT", "DELETE"])])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m recsys_assets.engine.endpoint", description=__doc__.split("\n")[0])
    parser.add_argument("--local-root", default=".recsys", help="the local backend's root (default: .recsys)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    parser.add_argument("--region", default="us-east-1", help="the region of the engine's ARNs (default: us-east-1)")
    args = parser.parse_args(argv)
    uvicorn.run(make_app(args.local_root, region=args.region), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
