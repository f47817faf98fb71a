"""Expiration on the shim's clock, moved forward by the test (the stack runs with a test clock).

A key is gone once its expiration (unix seconds) is not after now: get, bulk get and list
stop seeing it at once, and its row and blob file are deleted lazily.
"""

from __future__ import annotations


def names(page) -> list[str]:
    return [key["name"] for key in page["keys"]]


def gone(kv, key: str) -> bool:
    return (
        kv.get(key) is None
        and kv.meta(key) == {"value": None, "metadata": None, "cacheStatus": None}
        and kv.get([key]) == {key: None}
        and kv.meta([key]) == {key: None}
        and key not in names(kv.list(prefix=key))
    )


def test_a_key_put_with_a_ttl_of_60_seconds_is_gone_61_seconds_later(kv, ns):
    now = int(kv.advance_clock(0))
    kv.put(f"{ns}k", "short-lived", metadata={"m": 1}, expirationTtl=60)
    (listed,) = kv.list(prefix=f"{ns}k")["keys"]
    assert listed["expiration"] in (now + 60, now + 61)
    kv.advance_clock(58)
    assert kv.meta(f"{ns}k") == {"value": "short-lived", "metadata": {"m": 1}, "cacheStatus": None}
    kv.advance_clock(3)
    assert gone(kv, f"{ns}k")


def test_an_absolute_expiration_ends_at_that_second(kv, ns):
    now = kv.advance_clock(0)
    at = int(now) + 120
    kv.put(f"{ns}k", "v", expiration=at)
    assert kv.list(prefix=f"{ns}k")["keys"] == [{"name": f"{ns}k", "expiration": at}]
    kv.advance_clock(at - now - 0.5)
    assert kv.get(f"{ns}k") == "v"
    kv.advance_clock(0.5)
    assert gone(kv, f"{ns}k")


def test_a_put_without_expiration_makes_a_key_permanent(kv, ns):
    kv.put(f"{ns}k", "old", expirationTtl=60)
    kv.put(f"{ns}k", "new")
    kv.advance_clock(3600)
    assert kv.get(f"{ns}k") == "new"
    assert kv.list(prefix=f"{ns}k")["keys"] == [{"name": f"{ns}k"}]


def test_an_expired_key_can_be_put_again(kv, ns):
    kv.put(f"{ns}k", "first", expirationTtl=60)
    kv.advance_clock(61)
    assert kv.get(f"{ns}k") is None
    kv.put(f"{ns}k", "second")
    assert kv.get(f"{ns}k") == "second"


def test_expired_keys_do_not_fill_list_pages(kv, ns):
    for key in ["a", "b", "c"]:
        kv.put(f"{ns}{key}", "v", expirationTtl=60)
    kv.put(f"{ns}d", "v")
    kv.advance_clock(61)
    page = kv.list(prefix=ns, limit=1)
    assert (names(page), page["list_complete"]) == ([f"{ns}d"], True)


def test_expired_values_leave_the_disk(kv, kv_dir, ns):
    def files() -> set[str]:
        return {p.name for p in (kv_dir / "blobs").glob("??/*")}

    before = files()
    kv.put(f"{ns}big", {"$fill": 1, "length": 200_000}, expirationTtl=60)
    (added,) = files() - before
    kv.advance_clock(61)
    kv.put(f"{ns}other", "a later put purges what has expired")
    assert added not in files()
    assert kv.get(f"{ns}big") is None
