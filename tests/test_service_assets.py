"""A service binding to a Worker with [assets] reaches it as production routes it: fetch()
through the assets router, RPC and named entrypoints straight to the Worker."""

from __future__ import annotations

import json

import pytest

from tests.stack import REPO, request, start_stack

PROJECT = REPO / "tests" / "projects" / "service-assets"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    configs = [PROJECT / "app" / "wrangler.toml", PROJECT / "site" / "wrangler.toml"]
    running = start_stack(configs, tmp_path_factory.mktemp("service-assets") / "data")
    yield running
    assert running.stop() == 0


def through(stack, via: str, path: str) -> dict:
    status, body = request(f"{stack.url}/{via}?path={path}")
    assert status == 200, body
    return json.loads(body)


def test_a_service_bindings_fetch_is_answered_from_the_targets_assets(stack):
    assert through(stack, "site", "/logo.txt") == {
        "status": 200,
        "type": "text/plain; charset=utf-8",
        "body": "logo bytes\n",
    }


def test_what_no_asset_matches_reaches_the_target_worker(stack):
    assert through(stack, "site", "/api/users")["body"] == "site worker saw /api/users"


def test_rpc_through_the_binding_reaches_the_worker(stack):
    status, body = request(f"{stack.url}/rpc")
    assert (status, json.loads(body)) == (200, {"greeting": "hello app from the site's RPC"})


def test_a_named_entrypoint_goes_straight_to_the_worker(stack):
    assert through(stack, "admin", "/logo.txt")["body"] == "admin entrypoint saw /logo.txt"


def test_an_ico_file_has_productions_content_type(stack):
    site = stack.ready["workers"]["site"]
    status, _ = request(f"{site}/favicon.ico")
    assert status == 200
    assert through(stack, "site", "/favicon.ico")["type"] == "image/vnd.microsoft.icon"
