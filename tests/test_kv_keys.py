"""Key names: any UTF-8 up to 512 bytes is a plain key, never a path, never decoded twice."""

from __future__ import annotations

import re

import pytest

PLAIN_KEYS = [
    "a/b/c",
    "/leading/and/trailing/",
    "100%",
    "%2F",
    "%zz",
    "a+b",
    "+",
    "with space",
    "tab\there",
    "question?mark#hash",
    "back\\slash",
    "zoë/😀/\uff5a",
    "../../escape",
    "..%2F..%2Fescape",
    "/..",
    "./.",
    "...",
    "CON",
    "nul\x00byte",
    "!$&'()*+,-.:;=@[]^_|~",
]


@pytest.mark.parametrize("name", PLAIN_KEYS)
def test_any_string_is_a_plain_key(kv, ns, name):
    key = f"{ns}{name}"
    kv.put(key, f"value of {name}", metadata={"key": name})
    assert kv.get(key) == f"value of {name}"
    assert kv.meta(key)["metadata"] == {"key": name}
    assert kv.get([key]) == {key: f"value of {name}"}
    assert kv.list(prefix=key)["keys"] == [{"name": key, "metadata": {"key": name}}]
    kv.ok("delete", key=key)
    assert kv.get(key) is None


def test_keys_that_decode_to_each_other_stay_distinct(kv, ns):
    names = ["a/b", "a%2Fb", "a%252Fb", "a b", "a+b", "a%20b"]
    for name in names:
        kv.put(f"{ns}{name}", name)
    assert [kv.get(f"{ns}{name}") for name in names] == names


def test_keys_of_512_bytes_are_accepted(kv, ns):
    ascii_key = ns + "k" * (512 - len(ns))
    # 2 + 170 * 3 = 512 bytes of UTF-8, 172 characters.
    wide_key = "é" + "€" * 170
    assert len(wide_key.encode()) == 512
    for key in (ascii_key, wide_key):
        kv.put(key, "max", metadata={"m": 1})
        assert kv.get(key) == "max"
        assert kv.get([key]) == {key: "max"}
        assert kv.list(prefix=key)["keys"] == [{"name": key, "metadata": {"m": 1}}]
        kv.ok("delete", key=key)


@pytest.mark.parametrize("op", ["get", "getWithMetadata", "put", "delete"])
def test_the_binding_refuses_keys_over_512_bytes(kv, op):
    key = "€" * 171  # 513 bytes
    name = "DELETE" if op == "delete" else "PUT" if op == "put" else "GET"
    assert kv.error(op, key=key, value="v") == (
        f"KV {name} failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "Key name cannot be empty."),
        (".", '"." is not allowed as a key name.'),
        ("..", '".." is not allowed as a key name.'),
    ],
)
@pytest.mark.parametrize("op", ["get", "put", "delete"])
def test_the_binding_refuses_empty_and_dot_keys(kv, op, key, message):
    (result,) = kv.run({"op": op, "key": key, "value": "v"})
    assert result["error"] == {"name": "TypeError", "message": message}


def test_bulk_get_key_checks_happen_in_the_service(kv):
    assert kv.error("get", keys=["ok", ""]) == "KV GET_BULK failed: 400 Key names must not be empty"
    assert kv.error("get", keys=[".."]) == (
        'KV GET_BULK failed: 400 Illegal key name "..". Please use a different name.'
    )
    assert kv.error("get", keys=["k" * 513]) == (
        "KV GET_BULK failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
    )


def test_keys_never_become_paths_on_disk(kv, kv_stack, kv_dir, ns):
    kv.put("../../escape", "small")
    kv.put("/../../../escape-too", {"$fill": 1, "length": 100_000})
    kv.put(f"{ns}../{'..%2F' * 20}escape", {"$fill": 2, "length": 70_000})
    assert kv.get("../../escape") == "small"

    root = kv_stack.data_dir
    everything = [p.relative_to(root).as_posix() for p in root.rglob("*")]
    assert not [path for path in everything if "escape" in path]
    namespace = kv_dir.relative_to(root).as_posix()
    kv_files = [p for p in everything if p.startswith("kv/") and p != "kv"]
    allowed = re.compile(
        rf"{namespace}(/index\.sqlite(-wal|-shm)?|/blobs(/tmp|/[0-9a-f]{{2}}(/[0-9a-f]{{32}})?)?)?"
    )
    assert [path for path in kv_files if not allowed.fullmatch(path)] == []
    blob_files = [p for p in kv_files if re.search(r"/[0-9a-f]{32}$", p)]
    assert len(blob_files) >= 2


def test_a_lone_surrogate_in_a_key_names_one_key_however_it_is_sent(kv, ns):
    # JavaScript allows "\ud800" alone; workerd sends it as WTF-8 in the path and cleans it
    # (one U+FFFD per byte) in a bulk get's JSON. Both name the same key, listed as read back.
    key = f"{ns}a\ud800b"
    kv.put(key, "v", metadata={"note": "x\udc00"})
    assert kv.get(key) == "v"
    assert kv.get([key]) == {f"{ns}a\ufffd\ufffd\ufffdb": "v"}
    listed = kv.list(prefix=ns)["keys"]
    assert [item["name"] for item in listed] == [f"{ns}a\ufffd\ufffd\ufffdb"]
    # Metadata is the Worker's own JSON text, kept as written.
    assert kv.meta(key)["metadata"] == {"note": "x\udc00"}
