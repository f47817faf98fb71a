"""The built-in example (what `make dev` serves) works end to end: D1, KV and R2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from groundflare.cli import main
from tests.stack import REPO, request, start_stack

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    stack = start_stack([EXAMPLE], tmp_path_factory.mktemp("example") / "data")
    yield stack
    assert stack.stop() == 0


def call(stack, path, body=None, method=None, headers=None):
    status, payload = request(stack.url + path, body, method, headers)
    return status, payload


def test_projects_and_deployments_in_d1(example):
    status, body = call(example, "/projects", {"name": "web"}, "POST")
    assert status == 201
    project = json.loads(body)["project"]
    status, body = call(
        example, f"/projects/{project['id']}/deployments", {"version": "v1"}, "POST"
    )
    assert status == 201 and [d["version"] for d in json.loads(body)["deployments"]] == ["v1"]


def test_sessions_and_flags_in_kv(example):
    status, body = call(example, "/sessions", {"user": "ada"}, "POST")
    assert status == 201
    session = json.loads(body)["session"]
    status, body = call(example, f"/sessions/{session}")
    assert status == 200 and json.loads(body)["user"] == "ada" and "created" in json.loads(body)
    assert call(example, "/sessions/nope")[0] == 404
    call(example, "/flags/new-ui", {"enabled": True}, "PUT")
    assert json.loads(call(example, "/flags")[1]) == {"flags": {"new-ui": {"enabled": True}}}


def test_uploads_in_r2(example):
    data = bytes(range(256)) * 400
    status, body = call(
        example, "/uploads/builds/app.tar", data, "PUT", {"content-type": "application/x-tar"}
    )
    assert status == 201 and json.loads(body)["size"] == len(data)
    status, payload = call(example, "/uploads/builds/app.tar")
    assert status == 200 and payload == data
    assert json.loads(call(example, "/uploads")[1]) == {
        "uploads": [{"key": "builds/app.tar", "size": len(data)}]
    }


def test_the_example_passes_the_drift_check():
    result = CliRunner().invoke(main, ["config", "check", "-c", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
