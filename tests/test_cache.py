"""The Cache API: caches.default and caches.open(name) keep responses in the data dir by
production's rules (Cache-Control, Expires, Set-Cookie, Vary, ETag/If-None-Match, Range,
default edge TTLs, size), answer with `cf-cache-status: HIT`, and can be turned off."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stack import WORKERS, RunningStack, advance_clock, post_json

PROBE = WORKERS / "cache" / "wrangler.toml"
URL = "https://example.com/page?id=1"
FRESH = {"cache-control": "max-age=60"}


@pytest.fixture
def stack(tmp_data, stacks) -> RunningStack:
    return stacks([PROBE], tmp_data, env={"GROUNDFLARE_TEST_CLOCK": "1"})


def steps(stack: RunningStack, *steps: dict[str, Any]) -> list[Any]:
    results = post_json(stack.url, list(steps))
    for result in results:
        assert "ok" in result, result
    return [result["ok"] for result in results]


def put(stack: RunningStack, url: str = URL, **step: Any) -> None:
    assert steps(stack, {"op": "put", "url": url, **step}) == [None]


def match(stack: RunningStack, url: str = URL, **step: Any) -> Any:
    (found,) = steps(stack, {"op": "match", "url": url, **step})
    return found


def test_a_put_response_is_matched_with_cf_cache_status_hit(stack):
    put(stack, headers={**FRESH, "content-type": "text/html"}, body="<p>hi</p>")
    found = match(stack)
    assert (found["status"], found["body"]) == (200, "<p>hi</p>")
    assert found["headers"]["cf-cache-status"] == "HIT"
    assert found["headers"]["content-type"] == "text/html"
    assert match(stack, "https://example.com/page?id=2") is None
    assert match(stack, "http://example.com/page?id=1") is None


def test_a_response_lives_for_its_max_age_then_s_maxage_wins_over_it(stack):
    put(stack, headers=FRESH, body="a")
    put(stack, "https://example.com/shared", headers={"cache-control": "max-age=5, s-maxage=100"})
    advance_clock(stack, 61)
    assert match(stack) is None
    assert match(stack, "https://example.com/shared") is not None


def test_expires_counts_from_the_date_header(stack):
    headers = {"date": "Tue, 01 Dec 2026 10:00:00 GMT", "expires": "Tue, 01 Dec 2026 10:00:30 GMT"}
    put(stack, headers=headers, body="a")
    assert match(stack) is not None
    advance_clock(stack, 31)
    assert match(stack) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"cache-control": "no-store"},
        {"cache-control": "private"},
        {"cache-control": "no-cache"},
        {"cache-control": "max-age=0"},
        {**FRESH, "set-cookie": "session=1"},
        {"expires": "Thu, 01 Jan 1970 00:00:00 GMT"},
    ],
    ids=["no-store", "private", "no-cache", "max-age-0", "set-cookie", "expired"],
)
def test_what_cache_control_or_set_cookie_forbids_is_not_stored(stack, headers):
    put(stack, headers=headers, body="secret")
    assert match(stack) is None


def test_private_set_cookie_stores_the_response_without_its_cookie(stack):
    put(stack, headers={"cache-control": "max-age=60, private=Set-Cookie", "set-cookie": "s=1"})
    found = match(stack)
    assert "set-cookie" not in found["headers"]


def test_without_directives_the_status_gets_cloudflares_default_edge_ttl(stack):
    put(stack, "https://example.com/ok", body="ok")
    put(stack, "https://example.com/gone", status=404, body="no")
    put(stack, "https://example.com/teapot", status=418, body="no")
    assert match(stack, "https://example.com/teapot") is None
    advance_clock(stack, 181)
    assert match(stack, "https://example.com/gone") is None
    assert match(stack, "https://example.com/ok")["status"] == 200
    advance_clock(stack, 7200)
    assert match(stack, "https://example.com/ok") is None


def test_if_none_match_on_the_etag_answers_304(stack):
    put(stack, headers={**FRESH, "etag": 'W/"v1"'}, body="body")
    assert match(stack, requestHeaders={"if-none-match": '"v0", "v1"'})["status"] == 304
    assert match(stack, requestHeaders={"if-none-match": '"v2"'})["status"] == 200


def test_if_modified_since_answers_304_when_not_modified_after_it(stack):
    put(stack, headers={**FRESH, "last-modified": "Tue, 01 Dec 2026 10:00:00 GMT"})
    since = {"if-modified-since": "Tue, 01 Dec 2026 10:00:00 GMT"}
    assert match(stack, requestHeaders=since)["status"] == 304
    before = {"if-modified-since": "Mon, 30 Nov 2026 10:00:00 GMT"}
    assert match(stack, requestHeaders=before)["status"] == 200


def test_a_range_request_gets_206_with_content_range(stack):
    put(stack, headers=FRESH, body="0123456789")
    found = match(stack, requestHeaders={"range": "bytes=2-4"})
    assert (found["status"], found["body"]) == (206, "234")
    assert found["headers"]["content-range"] == "bytes 2-4/10"
    last = match(stack, requestHeaders={"range": "bytes=-3"})
    assert last["body"] == "789"


def test_vary_matches_only_a_request_with_the_same_header(stack):
    put(
        stack,
        headers={**FRESH, "vary": "Accept-Language"},
        requestHeaders={"accept-language": "fr"},
    )
    assert match(stack, requestHeaders={"accept-language": "fr"}) is not None
    assert match(stack, requestHeaders={"accept-language": "de"}) is None


def test_delete_answers_whether_there_was_an_entry(stack):
    put(stack, headers=FRESH)
    assert steps(stack, {"op": "delete", "url": URL}, {"op": "delete", "url": URL}) == [True, False]
    assert match(stack) is None


def test_named_caches_are_separate_from_the_default_and_each_other(stack):
    put(stack, headers=FRESH, body="default")
    put(stack, headers=FRESH, body="named", cache="pages")
    assert match(stack)["body"] == "default"
    assert match(stack, cache="pages")["body"] == "named"
    assert match(stack, cache="other") is None


def test_workerds_own_refusals_throw(stack):
    bad_vary = {"op": "put", "url": URL, "headers": {"vary": "*"}}
    results = post_json(stack.url, [bad_vary, {"op": "put", "url": URL, "status": 206}])
    assert [r["error"]["message"] for r in results] == [
        "Cannot cache response with 'Vary: *' header.",
        "Cannot cache response to a range request (206 Partial Content).",
    ]


def test_the_cache_survives_a_restart(tmp_data, stacks):
    first = stacks([PROBE], tmp_data)
    put(first, headers={"cache-control": "max-age=3600"}, body="kept")
    assert first.stop() == 0
    second = stacks([PROBE], tmp_data)
    assert match(second)["body"] == "kept"


@pytest.mark.slow
def test_a_response_over_512_mib_is_not_stored(stack):
    put(stack, "https://example.com/huge", headers=FRESH, stream=512 * 1024 * 1024 + 1)
    assert match(stack, "https://example.com/huge") is None
    assert not list((stack.data_dir / "cache" / "default" / "blobs" / "tmp").iterdir())


def test_no_cache_makes_every_match_miss(tmp_data, stacks):
    stack = stacks([PROBE], tmp_data, extra=["--no-cache"])
    put(stack, headers=FRESH, body="x")
    assert match(stack) is None
    assert steps(stack, {"op": "delete", "url": URL}) == [False]
