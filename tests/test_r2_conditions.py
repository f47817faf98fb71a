"""`onlyIf` on get and put, as an object and as Headers: production's rules via real workerd.

A get whose conditions fail still returns the object's metadata, without a body;
a put whose conditions fail returns null and writes nothing.
"""

from __future__ import annotations

import email.utils

import pytest

from tests.workers.r2.probe import error, get, head, headers, key, md5_hex, put, r2_stack

__all__ = ["key", "r2_stack"]  # fixtures


@pytest.fixture
def stored(r2_stack, key):
    return put(r2_stack, key, "value")


def served(r2_stack, stored, only_if):
    """Whether a get with these conditions returns the body (metadata comes either way)."""
    obj = get(r2_stack, stored["key"], onlyIf=only_if)
    assert obj["key"] == stored["key"]
    assert obj["etag"] == stored["etag"]
    assert obj["size"] == 5
    if obj["hasBody"]:
        assert obj["body"] == "value"
    else:
        assert obj["class"] == "HeadResult"
        assert obj["range"] == {"offset": 0, "length": 5}
    return obj["hasBody"]


def http_date(ms: int) -> str:
    return email.utils.formatdate(ms / 1000, usegmt=True)


def test_etag_matches(r2_stack, stored):
    assert served(r2_stack, stored, {"etagMatches": stored["etag"]})
    assert not served(r2_stack, stored, {"etagMatches": md5_hex("other")})
    assert served(r2_stack, stored, {"etagMatches": "*"})


def test_etag_does_not_match(r2_stack, stored):
    assert not served(r2_stack, stored, {"etagDoesNotMatch": stored["etag"]})
    assert served(r2_stack, stored, {"etagDoesNotMatch": md5_hex("other")})
    assert not served(r2_stack, stored, {"etagDoesNotMatch": "*"})


def test_uploaded_before_and_after(r2_stack, stored):
    uploaded = stored["uploaded"]
    assert served(r2_stack, stored, {"uploadedBefore": {"$date": uploaded + 1}})
    assert not served(r2_stack, stored, {"uploadedBefore": {"$date": uploaded}})
    assert served(r2_stack, stored, {"uploadedAfter": {"$date": uploaded - 1}})
    assert not served(r2_stack, stored, {"uploadedAfter": {"$date": uploaded}})


def test_a_matching_etag_overrides_an_upload_time_condition(r2_stack, stored):
    uploaded = stored["uploaded"]
    too_late = {"uploadedBefore": {"$date": uploaded - 1000}}
    assert served(r2_stack, stored, {**too_late, "etagMatches": stored["etag"]})
    too_early = {"uploadedAfter": {"$date": uploaded + 1000}}
    assert served(r2_stack, stored, {**too_early, "etagDoesNotMatch": md5_hex("other")})


def test_headers_if_match_and_if_none_match(r2_stack, stored):
    etag = stored["etag"]
    assert served(r2_stack, stored, headers(if_match=f'"nope", "{etag}"'))
    assert not served(r2_stack, stored, headers(if_match='"nope"'))
    # If-Match compares strongly: a weak validator never matches.
    assert not served(r2_stack, stored, headers(if_match=f'W/"{etag}"'))
    assert not served(r2_stack, stored, headers(if_none_match=f'W/"{etag}"'))
    assert not served(r2_stack, stored, headers(if_none_match="*"))
    assert served(r2_stack, stored, headers(if_none_match='"nope"'))


def test_headers_dates_compare_in_whole_seconds(r2_stack, stored):
    uploaded = stored["uploaded"]
    same_second = http_date(uploaded)
    next_second = http_date(uploaded + 1000)
    assert not served(r2_stack, stored, headers(if_modified_since=same_second))
    assert served(r2_stack, stored, headers(if_modified_since=http_date(uploaded - 1000)))
    assert not served(r2_stack, stored, headers(if_unmodified_since=same_second))
    assert served(r2_stack, stored, headers(if_unmodified_since=next_second))


def test_conditions_are_checked_before_the_range(r2_stack, stored):
    obj = get(
        r2_stack,
        stored["key"],
        onlyIf={"etagMatches": md5_hex("other")},
        range={"offset": 100},  # unsatisfiable, but the condition fails first
    )
    assert obj["hasBody"] is False


def test_quoted_etags_are_refused_by_the_client(r2_stack, stored):
    step = {"op": "get", "key": stored["key"], "options": {"onlyIf": {"etagMatches": '"x"'}}}
    assert error(r2_stack, step) == 'Conditional ETag should not be wrapped in quotes ("x").'


def test_conditions_on_a_missing_object(r2_stack, key):
    assert get(r2_stack, key, onlyIf={"etagDoesNotMatch": "*"}) is None
    assert get(r2_stack, key, onlyIf={"etagMatches": "*"}) is None


def test_put_if_absent(r2_stack, key):
    created = put(r2_stack, key, "first", onlyIf={"etagDoesNotMatch": "*"})
    assert created["etag"] == md5_hex("first")
    assert put(r2_stack, key, "second", onlyIf={"etagDoesNotMatch": "*"}) is None
    assert get(r2_stack, key)["body"] == "first"


def test_put_if_unchanged(r2_stack, stored):
    key = stored["key"]
    replaced = put(r2_stack, key, "new", onlyIf={"etagMatches": stored["etag"]})
    assert replaced["etag"] == md5_hex("new")
    assert put(r2_stack, key, "newer", onlyIf={"etagMatches": stored["etag"]}) is None
    assert get(r2_stack, key)["body"] == "new"


def test_put_with_header_conditions(r2_stack, stored):
    key = stored["key"]
    assert put(r2_stack, key, "x", onlyIf=headers(if_match='"nope"')) is None
    assert put(r2_stack, key, "x", onlyIf=headers(if_none_match="*")) is None
    written = put(r2_stack, key, "x", onlyIf=headers(if_match=f'"{stored["etag"]}"'))
    assert written["etag"] == md5_hex("x")


def test_a_conditional_put_to_a_missing_key_that_needs_an_object_fails(r2_stack, key):
    assert put(r2_stack, key, "x", onlyIf={"etagMatches": md5_hex("x")}) is None
    assert put(r2_stack, key, "x", onlyIf={"uploadedAfter": {"$date": 0}}) is None
    assert head(r2_stack, key) is None
    assert put(r2_stack, key, "x", onlyIf={"uploadedBefore": {"$date": 0}})["size"] == 1
