"""list(): order, prefix, delimiter, pages and `include`, as production answers them."""

from __future__ import annotations

import pytest

from tests.workers.r2.probe import WRANGLER, error, listing, r2_stack, run

__all__ = ["r2_stack"]  # fixture

_prefixes = iter(range(1_000_000))


@pytest.fixture
def space(r2_stack):
    """A prefix no other test lists under."""
    return f"list{next(_prefixes)}/"


def fill(stack, space, *names, **options):
    run(stack, *({"op": "put", "key": space + n, "value": n, "options": options} for n in names))


def keys(result):
    return [obj["key"] for obj in result["objects"]]


def test_keys_come_in_utf8_byte_order(r2_stack, space):
    names = ["b", "a", "B", "é", "z", "🚀", "\uff41", "a0", "a/", "~", "\u00ff", "\u0100"]
    fill(r2_stack, space, *names)
    result = listing(r2_stack, prefix=space)
    expected = sorted(names, key=lambda n: n.encode("utf-8"))
    assert keys(result) == [space + n for n in expected]
    assert result["truncated"] is False
    assert "cursor" not in result
    assert result["delimitedPrefixes"] == []


def test_prefix_is_literal_and_case_sensitive(r2_stack, space):
    fill(r2_stack, space, "Photo1", "photo1", "photo2", "phot", "p%hoto", "p_hoto")
    assert keys(listing(r2_stack, prefix=space + "photo")) == [space + "photo1", space + "photo2"]
    assert keys(listing(r2_stack, prefix=space + "p%")) == [space + "p%hoto"]
    assert keys(listing(r2_stack, prefix=space + "p_")) == [space + "p_hoto"]


def test_listed_objects_carry_metadata_but_not_http_or_custom_by_default(r2_stack, space):
    fill(r2_stack, space, "a", customMetadata={"k": "v"}, httpMetadata={"contentType": "x/y"})
    (obj,) = listing(r2_stack, prefix=space)["objects"]
    assert obj["size"] == 1
    assert obj["checksums"]["md5"] == obj["etag"]
    assert obj["storageClass"] == "Standard"
    assert "httpMetadata" not in obj
    assert "customMetadata" not in obj
    assert "range" not in obj
    assert obj["headers"] == {
        "error": f"HTTP metadata unknown for key `{space}a`. "
        "Did you forget to add 'httpMetadata' to `include` when listing?"
    }


def test_include_returns_what_was_asked_for(r2_stack, space):
    fill(r2_stack, space, "a", customMetadata={"k": "v"}, httpMetadata={"contentType": "x/y"})
    fill(r2_stack, space, "b")
    both = listing(r2_stack, prefix=space, include=["httpMetadata", "customMetadata"])
    assert [(o["httpMetadata"], o["customMetadata"]) for o in both["objects"]] == [
        ({"contentType": "x/y"}, {"k": "v"}),
        ({}, {}),
    ]
    assert both["objects"][0]["headers"] == {"content-type": "x/y"}
    http = listing(r2_stack, prefix=space, include=["httpMetadata"])["objects"][0]
    assert http["httpMetadata"] == {"contentType": "x/y"}
    assert "customMetadata" not in http
    custom = listing(r2_stack, prefix=space, include=["customMetadata"])["objects"][0]
    assert custom["customMetadata"] == {"k": "v"}
    assert "httpMetadata" not in custom


def test_an_unknown_include_is_refused_by_the_client(r2_stack):
    step = {"op": "list", "options": {"include": ["everything"]}}
    assert error(r2_stack, step) == "Unsupported include value everything"


def test_delimiter_folds_keys_into_prefixes(r2_stack, space):
    fill(r2_stack, space, "a.txt", "photos/1.jpg", "photos/2.jpg", "photos/x/3.jpg", "z/1", "zz")
    result = listing(r2_stack, prefix=space, delimiter="/")
    assert keys(result) == [space + "a.txt", space + "zz"]
    assert result["delimitedPrefixes"] == [space + "photos/", space + "z/"]
    nested = listing(r2_stack, prefix=space + "photos/", delimiter="/")
    assert keys(nested) == [space + "photos/1.jpg", space + "photos/2.jpg"]
    assert nested["delimitedPrefixes"] == [space + "photos/x/"]


def test_multi_character_delimiters(r2_stack, space):
    fill(r2_stack, space, "a--b--c", "a--d", "a-e", "f")
    result = listing(r2_stack, prefix=space, delimiter="--")
    assert result["delimitedPrefixes"] == [space + "a--"]
    assert keys(result) == [space + "a-e", space + "f"]


def test_pages_follow_the_cursor(r2_stack, space):
    names = [f"{i:03}" for i in range(25)]
    fill(r2_stack, space, *names)
    seen, cursor, pages = [], None, 0
    while True:
        options = {"prefix": space, "limit": 10}
        if cursor:
            options["cursor"] = cursor
        page = listing(r2_stack, **options)
        pages += 1
        seen += keys(page)
        if not page["truncated"]:
            assert "cursor" not in page
            break
        assert len(page["objects"]) == 10
        cursor = page["cursor"]
    assert pages == 3
    assert seen == [space + n for n in names]


def test_a_full_last_page_is_not_truncated(r2_stack, space):
    fill(r2_stack, space, "a", "b")
    page = listing(r2_stack, prefix=space, limit=2)
    assert keys(page) == [space + "a", space + "b"]
    assert page["truncated"] is False


def test_a_delimited_prefix_counts_once_and_is_not_repeated_on_the_next_page(r2_stack, space):
    fill(r2_stack, space, "a", "dir/1", "dir/2", "dir/3", "e", "f")
    first = listing(r2_stack, prefix=space, delimiter="/", limit=2)
    assert keys(first) == [space + "a"]
    assert first["delimitedPrefixes"] == [space + "dir/"]
    assert first["truncated"] is True
    second = listing(r2_stack, prefix=space, delimiter="/", limit=2, cursor=first["cursor"])
    assert keys(second) == [space + "e", space + "f"]
    assert second["delimitedPrefixes"] == []
    assert second["truncated"] is False


def test_start_after_is_exclusive(r2_stack, space):
    fill(r2_stack, space, "a", "b", "c")
    assert keys(listing(r2_stack, prefix=space, startAfter=space + "a")) == [
        space + "b",
        space + "c",
    ]
    assert keys(listing(r2_stack, prefix=space, startAfter=space + "bb")) == [space + "c"]
    assert keys(listing(r2_stack, prefix=space, startAfter="")) == keys(
        listing(r2_stack, prefix=space)
    )


def test_the_later_of_cursor_and_start_after_wins(r2_stack, space):
    fill(r2_stack, space, "a", "b", "c", "d")
    cursor = listing(r2_stack, prefix=space, limit=1)["cursor"]  # after "a"
    later = listing(r2_stack, prefix=space, cursor=cursor, startAfter=space + "c")
    assert keys(later) == [space + "d"]
    earlier = listing(r2_stack, prefix=space, cursor=cursor, startAfter=space)
    assert keys(earlier) == [space + "b", space + "c", space + "d"]


def test_a_limit_of_a_thousand_returns_a_thousand(r2_stack, space):
    names = [f"{i:04}" for i in range(1001)]
    for start in range(0, len(names), 250):
        fill(r2_stack, space, *names[start : start + 250])
    page = listing(r2_stack, prefix=space)
    assert len(page["objects"]) == 1000
    assert page["truncated"] is True
    rest = listing(r2_stack, prefix=space, cursor=page["cursor"])
    assert keys(rest) == [space + "1000"]


def test_pages_stay_under_the_metadata_size_workerd_accepts(r2_stack, space):
    """1,000 objects with 2 KB of custom metadata each would be ~2.5 MB of JSON: more than the
    1 MiB workerd reads, so the page comes back short and truncated, as production allows."""
    custom = {"pad": "x" * 2000}
    names = [f"{i:04}" for i in range(600)]
    for start in range(0, len(names), 200):
        fill(r2_stack, space, *names[start : start + 200], customMetadata=custom)
    seen, cursor, pages = [], None, 0
    while True:
        pages += 1
        options = {"prefix": space, "include": ["customMetadata"]}
        if cursor:
            options["cursor"] = cursor
        page = listing(r2_stack, **options)
        assert all(obj["customMetadata"] == custom for obj in page["objects"])
        seen += keys(page)
        if not page["truncated"]:
            break
        assert 0 < len(page["objects"]) < 600
        cursor = page["cursor"]
    assert pages > 1
    assert seen == [space + n for n in names]


@pytest.mark.parametrize("limit", [0, 1001])
def test_limits_outside_1_to_1000_are_refused(r2_stack, limit):
    step = {"op": "list", "options": {"limit": limit}}
    assert error(r2_stack, step) == "list: MaxKeys params must be positive integer <= 1000. (10022)"


def test_before_2022_08_04_list_returns_all_metadata(stacks, tmp_data):
    stack = stacks([WRANGLER.with_name("old-compat.toml")], tmp_data)
    fill(stack, "", "a", customMetadata={"k": "v"}, httpMetadata={"contentType": "x/y"})
    (obj,) = listing(stack)["objects"]
    assert obj["httpMetadata"] == {"contentType": "x/y"}
    assert obj["customMetadata"] == {"k": "v"}
