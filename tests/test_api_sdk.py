"""The official `cloudflare` Python SDK, pointed at a real `groundflare serve` with
`base_url`: its D1, KV and R2 methods work unchanged, and what they write is what the
Workers' bindings read (and the other way round)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cloudflare import Cloudflare, NotFoundError

from tests.stack import RunningStack, start_stack
from tests.v4 import D1_PROBE_ID, KV_PROBE_ID, PROBES, R2_PROBE_BUCKET, probe_ok, stack_env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(PROBES, tmp_path_factory.mktemp("sdk") / "data")
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def cf(stack: RunningStack) -> Cloudflare:
    env = stack_env(stack.data_dir)
    return Cloudflare(
        api_token=env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_API_BASE_URL"]
    )


@pytest.fixture(scope="module")
def account(stack: RunningStack) -> str:
    return stack_env(stack.data_dir)["CLOUDFLARE_ACCOUNT_ID"]


def test_d1_databases_are_listed_created_found_and_deleted(cf, account):
    names = [db.name for db in cf.d1.database.list(account_id=account)]
    assert names == ["probe"]
    created = cf.d1.database.create(account_id=account, name="made-by-sdk")
    assert created.name == "made-by-sdk" and created.uuid
    found = cf.d1.database.get(created.uuid, account_id=account)
    assert (found.uuid, found.name, found.num_tables) == (created.uuid, "made-by-sdk", 0)
    assert [db.name for db in cf.d1.database.list(account_id=account, name="made-by")] == [
        "made-by-sdk"
    ]
    cf.d1.database.delete(created.uuid, account_id=account)
    with pytest.raises(NotFoundError):
        cf.d1.database.get(created.uuid, account_id=account)


def test_d1_query_results_and_meta_are_the_bindings(cf, account, stack):
    pages = cf.d1.database.query(
        D1_PROBE_ID,
        account_id=account,
        sql="CREATE TABLE sdk_t (id INTEGER PRIMARY KEY, name TEXT); "
        "INSERT INTO sdk_t (name) VALUES ('a'), ('b'); SELECT * FROM sdk_t WHERE id > ?",
        params=["1"],
    )
    results = list(pages)
    assert len(results) == 3
    assert results[1].meta.changes == 2 and results[1].meta.last_row_id == 2
    assert results[2].results == [{"id": 2, "name": "b"}]
    # The Worker's binding sees the rows the API wrote.
    seen = probe_ok(stack, "d1-probe", {"op": "all", "sql": "SELECT name FROM sdk_t ORDER BY id"})
    assert [row["name"] for row in seen["results"]] == ["a", "b"]
    # The same meta fields as the binding's (values differ: timings, rows read).
    assert set(results[2].to_dict()["meta"]) == set(seen["meta"])


def test_d1_raw_answers_columns_and_rows_and_batches_run_together(cf, account):
    (raw,) = list(
        cf.d1.database.raw(D1_PROBE_ID, account_id=account, sql="SELECT 1 AS x, 'y' AS y")
    )
    assert raw.results.columns == ["x", "y"] and raw.results.rows == [[1, "y"]]
    batch = list(
        cf.d1.database.query(
            D1_PROBE_ID,
            account_id=account,
            batch=[{"sql": "SELECT ? AS a", "params": ["p"]}, {"sql": "SELECT 2 AS b"}],
        )
    )
    assert [r.results for r in batch] == [[{"a": "p"}], [{"b": 2}]]


def test_a_bad_statement_is_cloudflares_d1_error(cf, account):
    with pytest.raises(Exception) as failure:
        cf.d1.database.query(D1_PROBE_ID, account_id=account, sql="SELECT * FROM missing_table")
    assert "no such table: missing_table: SQLITE_ERROR" in str(failure.value)
    assert "7500" in str(failure.value)


def test_kv_values_put_by_the_sdk_are_read_by_the_binding_and_back(cf, account, stack):
    cf.kv.namespaces.values.update(
        "sdk/key",
        account_id=account,
        namespace_id=KV_PROBE_ID,
        value=b"from-sdk",
        metadata={"m": 1},
    )
    assert probe_ok(stack, "kv-probe", {"op": "get", "key": "sdk/key"}) == "from-sdk"
    seen = probe_ok(stack, "kv-probe", {"op": "getWithMetadata", "key": "sdk/key"})
    assert seen["metadata"] == {"m": 1}
    probe_ok(stack, "kv-probe", {"op": "put", "key": "sdk/worker", "value": "from-worker"})
    got = cf.kv.namespaces.values.get("sdk/worker", account_id=account, namespace_id=KV_PROBE_ID)
    assert got.read() == b"from-worker"
    meta = cf.kv.namespaces.metadata.get("sdk/key", account_id=account, namespace_id=KV_PROBE_ID)
    assert meta == {"m": 1}


def test_kv_keys_page_with_a_cursor(cf, account):
    for index in range(15):
        cf.kv.namespaces.values.update(
            f"page/{index:02}", account_id=account, namespace_id=KV_PROBE_ID, value=b"v"
        )
    first = cf.kv.namespaces.keys.list(KV_PROBE_ID, account_id=account, prefix="page/", limit=10)
    assert [k.name for k in first.result] == [f"page/{i:02}" for i in range(10)]
    every = [k.name for k in first]  # auto-pagination follows the cursor
    assert every == [f"page/{i:02}" for i in range(15)]


def test_kv_bulk_write_get_and_delete(cf, account, stack):
    cf.kv.namespaces.bulk_update(
        KV_PROBE_ID,
        account_id=account,
        body=[{"key": "bulk/a", "value": "1"}, {"key": "bulk/b", "value": "Mg==", "base64": True}],
    )
    got = cf.kv.namespaces.bulk_get(KV_PROBE_ID, account_id=account, keys=["bulk/a", "bulk/b"])
    assert got is not None and got.to_dict()["values"] == {"bulk/a": "1", "bulk/b": "2"}
    cf.kv.namespaces.bulk_delete(KV_PROBE_ID, account_id=account, body=["bulk/a"])
    assert probe_ok(stack, "kv-probe", {"op": "get", "key": "bulk/a"}) is None
    assert probe_ok(stack, "kv-probe", {"op": "get", "key": "bulk/b"}) == "2"


def test_kv_namespaces_are_created_renamed_and_deleted(cf, account, stack):
    created = cf.kv.namespaces.create(account_id=account, title="sdk-ns")
    assert created is not None
    renamed = cf.kv.namespaces.update(created.id, account_id=account, title="sdk-renamed")
    assert renamed.title == "sdk-renamed"
    titles = {ns.title for ns in cf.kv.namespaces.list(account_id=account)}
    assert titles == {"KV", "sdk-renamed"}
    cf.kv.namespaces.delete(created.id, account_id=account)
    assert {ns.title for ns in cf.kv.namespaces.list(account_id=account)} == {"KV"}


def test_r2_buckets_are_created_listed_and_deleted(cf, account):
    cf.r2.buckets.create(account_id=account, name="sdk-bucket")
    names = [b.name for b in cf.r2.buckets.list(account_id=account).buckets or []]
    assert names == ["probe", "sdk-bucket"]
    assert cf.r2.buckets.get("sdk-bucket", account_id=account).name == "sdk-bucket"
    cf.r2.buckets.delete("sdk-bucket", account_id=account)
    assert [b.name for b in cf.r2.buckets.list(account_id=account).buckets or []] == ["probe"]


def test_r2_objects_uploaded_listed_read_and_deleted_are_the_bindings(cf, account, stack):
    objects = cf.r2.buckets.objects
    objects.upload("sdk/one.txt", b"from-sdk", account_id=account, bucket_name=R2_PROBE_BUCKET)
    seen = probe_ok(stack, "r2-probe", {"op": "get", "key": "sdk/one.txt"})
    assert seen["body"] == "from-sdk"
    probe_ok(stack, "r2-probe", {"op": "put", "key": "sdk/two.txt", "value": "from-worker"})
    got = objects.get("sdk/two.txt", account_id=account, bucket_name=R2_PROBE_BUCKET)
    assert got.read() == b"from-worker"
    listed = objects.list(R2_PROBE_BUCKET, account_id=account, prefix="sdk/")
    assert [(o.key, o.size) for o in listed] == [("sdk/one.txt", 8), ("sdk/two.txt", 11)]
    objects.delete("sdk/one.txt", account_id=account, bucket_name=R2_PROBE_BUCKET)
    assert probe_ok(stack, "r2-probe", {"op": "head", "key": "sdk/one.txt"}) is None
    with pytest.raises(NotFoundError):
        objects.get("sdk/one.txt", account_id=account, bucket_name=R2_PROBE_BUCKET).read()


def test_resources_created_through_the_api_survive_a_restart(tmp_path: Path, stacks):
    first = stacks(PROBES, tmp_path / "data")
    env = stack_env(first.data_dir)
    cf = Cloudflare(api_token=env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_API_BASE_URL"])
    account = env["CLOUDFLARE_ACCOUNT_ID"]
    db = cf.d1.database.create(account_id=account, name="kept")
    list(
        cf.d1.database.query(
            db.uuid, account_id=account, sql="CREATE TABLE k (v); INSERT INTO k VALUES (7)"
        )
    )
    assert first.stop() == 0
    second = stacks(PROBES, tmp_path / "data")
    env = stack_env(second.data_dir)
    cf = Cloudflare(api_token=env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_API_BASE_URL"])
    (rows,) = list(cf.d1.database.query("kept", account_id=account, sql="SELECT v FROM k"))
    assert rows.results == [{"v": 7}]
