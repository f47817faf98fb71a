"""The D1 engine's scheduling: budgeted inline runs, re-runs on the thread, order, locks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import apsw
import pytest

from groundflare.shim.d1.binding import parse_queries
from groundflare.shim.d1.engine import Database
from groundflare.shim.d1.errors import D1Error

# A recursive CTE long enough to overrun the inline budget on any machine.
SLOW_ROWS = 300_000
SLOW = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SLOW_ROWS})"


@pytest.fixture
async def db(tmp_path: Path):
    database = Database(tmp_path / "db.sqlite", "db")
    await database.open()
    yield database
    await database.close()


async def run(db: Database, body: str):
    return await db.call(lambda: db.run_queries(parse_queries(body.encode())))


async def test_fast_queries_run_inline_without_the_thread(db):
    await run(db, '{"sql": "CREATE TABLE t (v)"}')
    before = db.executor.jobs_started
    for _ in range(20):
        await run(db, '{"sql": "INSERT INTO t VALUES (1)"}')
    assert db.executor.jobs_started == before


async def test_a_query_over_budget_is_rerun_on_the_thread_with_the_same_result(db):
    before = db.executor.jobs_started
    (result,) = await run(db, f'{{"sql": "{SLOW} SELECT count(*), sum(i) FROM n"}}')
    assert result.rows == [(SLOW_ROWS, SLOW_ROWS * (SLOW_ROWS + 1) // 2)]
    assert db.executor.jobs_started == before + 1


async def test_an_interrupted_write_is_applied_exactly_once(db):
    await run(db, '{"sql": "CREATE TABLE t (v)"}')
    (result,) = await run(db, f'{{"sql": "{SLOW} INSERT INTO t SELECT i FROM n"}}')
    assert result.meta["changes"] == SLOW_ROWS
    assert result.meta["last_row_id"] == SLOW_ROWS
    ((count,),) = (await run(db, '{"sql": "SELECT count(*) FROM t"}'))[0].rows
    assert count == SLOW_ROWS


async def test_an_insert_interrupted_while_returning_its_rows_is_applied_exactly_once(db):
    """RETURNING: the rows are written on the first step, the budget runs out after."""
    await run(db, '{"sql": "CREATE TABLE t (v)"}')
    (result,) = await run(db, f'{{"sql": "{SLOW} INSERT INTO t SELECT i FROM n RETURNING v"}}')
    assert len(result.rows) == SLOW_ROWS
    ((count,),) = (await run(db, '{"sql": "SELECT count(*) FROM t"}'))[0].rows
    assert count == SLOW_ROWS


async def test_an_interrupted_batch_is_applied_exactly_once(db):
    await run(db, '{"sql": "CREATE TABLE t (v)"}')
    batch = (
        '[{"sql": "INSERT INTO t VALUES (-1)"}, '
        f'{{"sql": "{SLOW} INSERT INTO t SELECT i FROM n"}}, '
        '{"sql": "INSERT INTO t VALUES (-2)"}]'
    )
    results = await run(db, batch)
    assert [r.meta["changes"] for r in results] == [1, SLOW_ROWS, 1]
    ((count, low),) = (await run(db, '{"sql": "SELECT count(*), min(v) FROM t"}'))[0].rows
    assert (count, low) == (SLOW_ROWS + 2, -2)


async def test_a_query_that_overran_the_budget_goes_to_the_thread_at_once_next_time(db):
    slow = f'{{"sql": "{SLOW} SELECT count(*) FROM n"}}'
    queries = parse_queries(slow.encode())
    key = tuple(queries[0].statements)
    for _ in range(3):
        await db.call(lambda: db.run_queries(queries), key=key)
    assert db.runner.overruns == 1


async def test_queries_keep_their_order_while_the_thread_is_busy(db):
    await run(db, '{"sql": "CREATE TABLE t (v)"}')
    slow = asyncio.ensure_future(run(db, f'{{"sql": "{SLOW} SELECT count(*) FROM n, t"}}'))
    await asyncio.sleep(0)
    fast = asyncio.ensure_future(run(db, '{"sql": "INSERT INTO t VALUES (1) RETURNING v"}'))
    slow_result, fast_result = await asyncio.gather(slow, fast)
    assert slow_result[0].rows == [(0,)]
    assert fast_result[0].rows == [(1,)]


HOLD_LOCK = """
import sqlite3, sys, time
other = sqlite3.connect(sys.argv[1], isolation_level=None)
other.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
other.execute("ROLLBACK")
"""


async def hold_write_lock(path: Path, seconds: float) -> asyncio.subprocess.Process:
    """Another process (a user's SQLite tool) holding the write lock; locks are per process."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LOCK, str(path), str(seconds), stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert await holder.stdout.readline() == b"locked\n"
    return holder


async def test_a_write_waits_for_another_processs_lock(db):
    await run(db, '{"sql": "CREATE TABLE t (v)"}')
    holder = await hold_write_lock(db.path, 0.5)
    before = db.executor.jobs_started
    (result,) = await run(db, '{"sql": "INSERT INTO t VALUES (1)"}')
    assert await holder.wait() == 0
    assert result.meta["changes"] == 1
    assert db.executor.jobs_started == before + 1


async def test_a_lock_held_past_the_busy_timeout_is_a_d1_error(db):
    db.runner.busy_timeout_ms = 200
    await run(db, '{"sql": "CREATE TABLE t (v)"}')
    holder = await hold_write_lock(db.path, 2)
    with pytest.raises(D1Error) as caught:
        await run(db, '{"sql": "INSERT INTO t VALUES (1)"}')
    assert caught.value.message == "database is locked: SQLITE_BUSY"
    assert await holder.wait() == 0


async def test_the_wal_is_checkpointed_off_the_event_loop(db):
    await run(db, '{"sql": "CREATE TABLE t (v)"}')
    before = db.executor.jobs_started
    blob = "x" * 4000
    rows = 1200  # about three WAL frames each: past the 1,000-frame checkpoint point
    for _ in range(rows):
        await run(db, f'{{"sql": "INSERT INTO t VALUES (\'{blob}\')"}}')
    await db.executor.run(lambda: None)
    assert db.executor.jobs_started > before + 1
    # A RESTART checkpoint ran on the thread, so the next writer starts the WAL over: it then
    # holds fewer frames than were written (its file is reused, so its size says nothing).
    await run(db, f'{{"sql": "INSERT INTO t VALUES (\'{blob}\')"}}')
    probe = apsw.Connection(str(db.path))
    probe.execute("PRAGMA journal_mode").fetchall()  # a connection learns of the WAL on a read
    frames, _ = probe.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
    probe.close()
    assert 0 <= frames < rows * 2


async def test_a_cancelled_caller_does_not_let_the_next_query_run_beside_the_thread(db):
    """A client that hangs up while its query waits for the thread (workerd cancels the
    binding call) must not open the inline path while that query still runs: two runs on
    one connection at once break atomicity (a write acknowledged once, applied twice)."""
    await run(db, '{"sql": "CREATE TABLE t (v)"}')
    slow = asyncio.ensure_future(run(db, f'{{"sql": "{SLOW} INSERT INTO t SELECT -i FROM n"}}'))
    await asyncio.sleep(0)
    queued = asyncio.ensure_future(run(db, '{"sql": "INSERT INTO t VALUES (1)"}'))
    await asyncio.sleep(0)
    queued.cancel()
    slow.cancel()
    await asyncio.gather(queued, slow, return_exceptions=True)
    before = db.executor.jobs_started
    (result,) = await run(db, '{"sql": "INSERT INTO t VALUES (2) RETURNING v"}')
    assert result.rows == [(2,)]
    assert db.executor.jobs_started > before, "ran inline while the thread held the connection"
    ((count, ones, twos),) = (
        await run(db, '{"sql": "SELECT count(*), sum(v = 1), sum(v = 2) FROM t"}')
    )[0].rows
    assert (count, ones, twos) == (SLOW_ROWS + 2, 1, 1)
