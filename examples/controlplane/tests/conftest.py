"""What every test of the example starts from (docs/testing.md)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def groundflare_seed(groundflare_stack):
    """The Worker creates its tables on its first request and remembers, in its isolate, that
    it did; the isolate outlives each test's reset, so the tables must be in the seed."""
    assert groundflare_stack.worker().get("/projects").status_code == 200
    groundflare_stack.kv("KV").put("flag:new-ui", '{"enabled": false}')
