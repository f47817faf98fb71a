"""The example controlplane (what `make dev` serves) uses a production Worker's other
features together: deployments built through a queue with retries and a dead-letter queue,
a cron that checks on the build service over fetch() to a local process, rate-limited logins
and cached badges."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from groundflare.cli import main
from tests.stack import REPO, RunningStack, advance_clock, eventually, request

EXAMPLE = REPO / "examples" / "controlplane"


class Builder(BaseHTTPRequestHandler):
    """A stand-in build service: builds anything but version "broken"; answers /health."""

    builds: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        job = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Builder.builds.append(job)
        self.send_response(500 if job["version"] == "broken" else 200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def builder() -> Iterator[str]:
    Builder.builds = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Builder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def stack(tmp_path, tmp_data, stacks, builder) -> RunningStack:
    """The example as it is, its builder URL pointed at the stand-in through .dev.vars."""
    project = tmp_path / "controlplane"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".pytest_cache", "tests"))
    (project / ".dev.vars").write_text(f"BUILDER_URL={builder}\n")
    return stacks([project / "wrangler.toml"], tmp_data, env={"GROUNDFLARE_TEST_CLOCK": "1"})


def call(stack: RunningStack, path: str, body: Any = None, method: str = "GET") -> Any:
    status, payload = request(stack.url + path, body, method=method)
    return status, json.loads(payload)


def deploy(stack: RunningStack, version: str) -> int:
    status, created = call(stack, "/projects", {"name": f"p-{version}"}, "POST")
    assert status == 201, created
    project = created["project"]["id"]
    status, answer = call(stack, f"/projects/{project}/deployments", {"version": version}, "POST")
    assert status == 201, answer
    assert answer["deployments"][-1]["status"] == "queued"
    return project


def status_of(stack: RunningStack, project: int) -> str:
    _, answer = call(stack, f"/projects/{project}/deployments")
    return answer["deployments"][-1]["status"]


def test_a_deployment_is_built_through_the_queue(stack):
    project = deploy(stack, "v1")
    advance_clock(stack, 1)
    eventually(lambda: status_of(stack, project) == "live", what="the deployment live")
    assert Builder.builds == [{"deployment": 1, "project": project, "version": "v1"}]


def test_a_failing_build_is_retried_then_dead_lettered_as_failed(stack):
    project = deploy(stack, "broken")
    for attempt in range(1, 5):
        advance_clock(stack, 11)
        eventually(lambda n=attempt: len(Builder.builds) >= n, what=f"build attempt {attempt}")
    advance_clock(stack, 11)
    eventually(lambda: status_of(stack, project) == "failed", what="the deployment failed")
    assert len(Builder.builds) == 4  # the first attempt and max_retries = 3 retries


def test_the_cron_checks_the_build_service_over_fetch(stack):
    advance_clock(stack, 5 * 60)
    health = eventually(lambda: call(stack, "/builder")[1] or None, what="a health check")
    assert (health["ok"], health["status"]) == (True, 200)


def test_logins_are_rate_limited_per_user(stack):
    statuses = [call(stack, "/sessions", {"user": "ada"}, "POST")[0] for _ in range(6)]
    assert statuses == [201] * 5 + [429]
    assert call(stack, "/sessions", {"user": "grace"}, "POST")[0] == 201


def test_a_badge_is_served_from_the_cache_for_a_minute(stack):
    project = deploy(stack, "v1")
    assert request(stack.url + f"/projects/{project}/badge")[0] == 200
    # The Worker puts the badge in the cache in `waitUntil`, after answering (as in
    # production): a request right behind the first may still miss.
    hit_status, hit_body, _ = eventually(
        lambda: _hit(stack, f"/projects/{project}/badge"), what="a cache hit for the badge"
    )
    assert (hit_status, json.loads(hit_body)["version"]) == (200, "v1")
    advance_clock(stack, 61)
    assert _get(stack, f"/projects/{project}/badge")[2].get("cf-cache-status") is None


def _hit(stack: RunningStack, path: str) -> tuple[int, bytes, dict[str, str]] | None:
    answer = _get(stack, path)
    return answer if answer[2].get("cf-cache-status") == "HIT" else None


def _get(stack: RunningStack, path: str) -> tuple[int, bytes, dict[str, str]]:
    with urllib.request.urlopen(stack.url + path, timeout=30) as response:
        return response.status, response.read(), {k.lower(): v for k, v in response.headers.items()}


def test_the_example_still_passes_the_drift_check():
    result = CliRunner().invoke(main, ["config", "check", "-c", str(EXAMPLE / "wrangler.toml")])
    assert result.exit_code == 0, result.output
