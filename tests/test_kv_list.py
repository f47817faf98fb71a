"""`list()`: keys in UTF-8 byte order, literal prefixes, cursors, metadata and expirations."""

from __future__ import annotations

import base64


def names(page) -> list[str]:
    return [key["name"] for key in page["keys"]]


def test_an_empty_prefix_lists_a_complete_page_without_a_cursor(kv, ns):
    page = kv.list(prefix=f"{ns}nothing-here")
    assert page == {"keys": [], "list_complete": True, "cacheStatus": None}


def test_keys_come_in_utf8_byte_order_not_javascript_string_order(kv, ns):
    # UTF-16 would put U+1F600 (D83D DE00) before U+FF5A; UTF-8 bytes put it last.
    keys = ["\uff5a", "a", "\U0001f600", "Z", "~", "é", "a\x00", "aa", "A"]
    for key in keys:
        kv.put(f"{ns}{key}", key)
    expected = ["A", "Z", "a", "a\x00", "aa", "~", "é", "\uff5a", "\U0001f600"]
    assert sorted(expected, key=str.encode) == expected
    assert names(kv.list(prefix=ns)) == [f"{ns}{key}" for key in expected]


def test_prefixes_match_literally_and_case_sensitively(kv, ns):
    for key in ["a%b", "axb", "a_b", "aXb", "A%b", "a\\b", "a*b", "a%bc", "b"]:
        kv.put(f"{ns}{key}", "v")
    assert names(kv.list(prefix=f"{ns}a%")) == [f"{ns}a%b", f"{ns}a%bc"]
    assert names(kv.list(prefix=f"{ns}a_")) == [f"{ns}a_b"]
    assert names(kv.list(prefix=f"{ns}a\\")) == [f"{ns}a\\b"]
    assert names(kv.list(prefix=f"{ns}aX")) == [f"{ns}aXb"]
    assert names(kv.list(prefix=f"{ns}a*")) == [f"{ns}a*b"]


def test_prefixes_with_spaces_plus_and_unicode(kv, ns):
    for key in ["a b/1", "a+b/1", "a b/2", "zoë/1", "zoe/1", "\U0001f600/1", "\U0001f600/2"]:
        kv.put(f"{ns}{key}", "v")
    assert names(kv.list(prefix=f"{ns}a b")) == [f"{ns}a b/1", f"{ns}a b/2"]
    assert names(kv.list(prefix=f"{ns}a+b")) == [f"{ns}a+b/1"]
    assert names(kv.list(prefix=f"{ns}zoë")) == [f"{ns}zoë/1"]
    assert names(kv.list(prefix=f"{ns}\U0001f600")) == [f"{ns}\U0001f600/1", f"{ns}\U0001f600/2"]


def test_metadata_and_expiration_appear_only_for_keys_that_have_them(kv, ns):
    now = int(kv.advance_clock(0))
    kv.put(f"{ns}a", "v", metadata={"v": 1, "s": "ü"})
    kv.put(f"{ns}b", "v")
    kv.put(f"{ns}c", "v", metadata="plain string", expiration=now + 3600)
    kv.put(f"{ns}d", "v", metadata=None, expiration=now + 7200)
    assert kv.list(prefix=ns)["keys"] == [
        {"name": f"{ns}a", "metadata": {"v": 1, "s": "ü"}},
        {"name": f"{ns}b"},
        {"name": f"{ns}c", "expiration": now + 3600, "metadata": "plain string"},
        {"name": f"{ns}d", "expiration": now + 7200},
    ]


def test_pages_follow_cursors_until_the_list_is_complete(kv, ns):
    keys = [f"{ns}{i:03d}" for i in range(25)]
    for key in keys:
        kv.put(key, "v")
    seen, cursor, pages = [], None, 0
    while True:
        options = {"prefix": ns, "limit": 10}
        if cursor is not None:
            options["cursor"] = cursor
        page = kv.list(**options)
        pages += 1
        seen += names(page)
        if page["list_complete"]:
            assert "cursor" not in page
            break
        assert page["cursor"]
        cursor = page["cursor"]
    assert (seen, pages) == (keys, 3)


def test_a_page_that_ends_exactly_at_the_last_key_is_complete(kv, ns):
    for i in range(4):
        kv.put(f"{ns}{i}", "v")
    page = kv.list(prefix=ns, limit=4)
    assert (names(page), page["list_complete"], "cursor" in page) == (
        [f"{ns}{i}" for i in range(4)],
        True,
        False,
    )


def test_the_default_page_is_1000_keys(kv, ns):
    kv.run(*({"op": "put", "key": f"{ns}{i:04d}", "value": ""} for i in range(1001)))
    first = kv.list(prefix=ns)
    assert (len(first["keys"]), first["list_complete"]) == (1000, False)
    assert kv.list(prefix=ns, limit=0)["keys"] == first["keys"]
    rest = kv.list(prefix=ns, cursor=first["cursor"])
    assert (names(rest), rest["list_complete"]) == ([f"{ns}1000"], True)


def test_a_cursor_resumes_strictly_after_the_last_key_returned(kv, ns):
    for key in ["b", "d", "f"]:
        kv.put(f"{ns}{key}", "v")
    page = kv.list(prefix=ns, limit=1)
    assert names(page) == [f"{ns}b"]
    assert base64.b64decode(page["cursor"]) == f"{ns}b".encode()
    kv.put(f"{ns}a", "behind the cursor")
    kv.put(f"{ns}c", "ahead of the cursor")
    kv.ok("delete", key=f"{ns}d")
    rest = kv.list(prefix=ns, cursor=page["cursor"], limit=5)
    assert names(rest) == [f"{ns}c", f"{ns}f"]


def test_the_limit_may_change_between_pages(kv, ns):
    for i in range(6):
        kv.put(f"{ns}{i}", "v")
    first = kv.list(prefix=ns, limit=2)
    second = kv.list(prefix=ns, limit=3, cursor=first["cursor"])
    third = kv.list(prefix=ns, limit=3, cursor=second["cursor"])
    assert [names(first), names(second), names(third)] == [
        [f"{ns}0", f"{ns}1"],
        [f"{ns}2", f"{ns}3", f"{ns}4"],
        [f"{ns}5"],
    ]
    assert third["list_complete"]


def test_without_a_prefix_every_key_is_listed(kv, ns):
    kv.put(f"{ns}x", "v")
    cursor, found = None, False
    while not found:
        page = kv.list(**({"cursor": cursor} if cursor else {}))
        found = f"{ns}x" in names(page)
        if page["list_complete"]:
            break
        cursor = page["cursor"]
    assert found
