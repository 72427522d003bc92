"""The real-time APIs over HTTP: a real boto3 client with ``endpoint_url`` gets what the in-process one gets."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import boto3
import pytest
import uvicorn

from recsys_assets.engine.endpoint import make_app

from .test_api_runtime import deploy, runtime  # noqa: F401 - runtime is a fixture


@pytest.fixture
def local_root(tmp_path):
    return tmp_path  # the conftest's engine lives under <tmp_path>/engine, its S3 under <tmp_path>/s3


@pytest.fixture
def endpoint(local_root):
    with socket.socket() as s:  # a free port on this machine only
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(local_root), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the endpoint did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _client(service: str, url: str):
    return boto3.session.Session().client(service, region_name="us-east-1", endpoint_url=url,
                                          aws_access_key_id="local", aws_secret_access_key="local")


def test_health_check(endpoint):
    with urllib.request.urlopen(f"{endpoint}/health", timeout=5) as response:
        assert response.status == 200 and json.load(response)["status"] == "ok"


def test_a_boto3_client_with_endpoint_url_gets_the_campaigns_answers(endpoint, personalize, engine_root, runtime,
                                                                      local_root):
    assert engine_root == local_root / "engine"
    campaign = deploy(personalize, engine_root)[-1]
    remote = _client("personalize-runtime", endpoint)
    over_http = remote.get_recommendations(campaignArn=campaign, userId="u0", numResults=5)["itemList"]
    in_process = runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=5)["itemList"]
    assert [i["itemId"] for i in over_http] == [i["itemId"] for i in in_process] == ["i0", "i1", "i2", "i3", "i4"]
    with pytest.raises(remote.exceptions.ResourceNotFoundException):
        remote.get_recommendations(campaignArn=campaign + "-gone", userId="u0")
    with pytest.raises(remote.exceptions.InvalidInputException):
        remote.get_recommendations(campaignArn=campaign, userId="u0", numResults=501)


def test_events_reach_the_engine_through_the_endpoint(endpoint):
    events = _client("personalize-events", endpoint)
    with pytest.raises(events.exceptions.InvalidInputException, match="(?i)tracking"):
        events.put_events(trackingId="no-such-tracker", sessionId="s1", userId="u0",
                          eventList=[{"eventType": "click", "itemId": "i0", "sentAt": 1_800_000_000}])
