"""The pytest plugin, run as a project runs it: pytester writes real test files and runs them
in a pytest subprocess against a real stack of the probe Worker (tests/workers/plugin)."""

from __future__ import annotations

import pytest

from tests.stack import WORKERS

PROBE = WORKERS / "plugin" / "wrangler.toml"
DO_MAIN = WORKERS / "do-main" / "wrangler.toml"
# Reaches do-main's class; has an [env.staging] that changes its WHO var.
DO_AUX = WORKERS / "do-aux" / "wrangler.toml"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project whose pytest settings name the probe Worker's wrangler.toml."""
    pytester.makeini(f"[pytest]\ngroundflare_config = {PROBE}\n")
    return pytester


def test_tests_talk_to_the_worker_and_its_bindings(project):
    project.makepyfile(
        """
        def test_the_worker_answers(worker):
            assert worker.put("/kv/greeting", content="hello").status_code == 201
            assert worker.get("/kv/greeting").text == "hello"

        def test_python_sees_what_the_worker_wrote(worker, groundflare):
            worker.put("/d1/alpha")
            worker.put("/r2/blob", content=b"x" * 100)
            rows = groundflare.d1("DB").execute("SELECT name FROM notes")["results"]
            assert rows == [{"name": "alpha"}]
            with groundflare.r2("BUCKET").get("blob") as body:
                assert body.size == 100 and body.read() == b"x" * 100

        def test_the_worker_sees_what_python_wrote(worker, groundflare):
            groundflare.kv("KV").put("greeting", "from python")
            assert worker.get("/kv/greeting").text == "from python"

        def test_each_worker_by_name(workers):
            assert list(workers) == ["plugin-probe"]
            assert workers["plugin-probe"].get("/kv/none").status_code == 404

        def test_a_websocket(worker):
            with worker.websocket("/ws") as ws:
                ws.send_text("hi")
                assert ws.receive_text() == "echo: hi"

        async def test_an_async_client(worker):
            async with worker.async_client() as client:
                assert (await client.get("/kv/none")).status_code == 404
        """
    )
    result = project.runpytest_subprocess("-p", "asyncio", "--asyncio-mode=auto")
    result.assert_outcomes(passed=6)


def test_tests_writing_the_same_keys_do_not_see_each_other(project):
    body = """
        def test_{n}(worker, groundflare):
            assert worker.get("/kv/shared").status_code == 404
            assert worker.get("/d1").json() == []
            assert worker.get("/r2/shared").status_code == 404
            worker.put("/kv/shared", content="{n}")
            worker.put("/d1/shared")
            worker.put("/r2/shared", content="{n}")
            assert groundflare.kv("KV").get("shared") == "{n}"
        """
    project.makepyfile(test_isolation="\n".join(body.format(n=n) for n in ("one", "two")))
    project.runpytest_subprocess().assert_outcomes(passed=2)


def test_a_durable_objects_memory_does_not_outlive_its_test(project):
    project.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_counts_from_one(worker, n):
            assert worker.post("/counter").json() == {"inMemory": 1, "stored": 1}
            assert worker.post("/counter").json() == {"inMemory": 2, "stored": 2}

        def test_python_reaches_the_same_object(worker, groundflare):
            assert groundflare.durable_object("COUNTER", "one").call("bump") == {
                "inMemory": 1, "stored": 1}
            assert worker.post("/counter").json() == {"inMemory": 2, "stored": 2}

        @pytest.mark.parametrize("n", ["a", "b"])
        def test_sql_storage_holds_only_this_tests_rows(groundflare, n):
            notes = groundflare.durable_object("COUNTER", "notes")
            assert notes.call("note", n) == [n]
            notes.sql("INSERT INTO notes (text) VALUES ('by sql')", write=True)
            rows = notes.sql("SELECT text FROM notes ORDER BY rowid")[0]["results"]
            assert rows == [{"text": n}, {"text": "by sql"}]
        """
    )
    project.runpytest_subprocess().assert_outcomes(passed=6)


def test_a_failing_test_shows_the_workers_output_and_binding_calls(project):
    project.makepyfile(
        """
        def test_fails(worker):
            worker.get("/log", params={"text": "about to look up the greeting"})
            worker.put("/kv/greeting", content="hello")
            assert worker.get("/boom").status_code == 200

        def test_passes(worker):
            worker.get("/log", params={"text": "nobody needs to see this"})
        """
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*groundflare: Worker output*",
            "about to look up the greeting",
            "*Error: the Worker blew up*",
            "*groundflare: binding calls*",
            "plugin-probe.KV: PUT /greeting* -> 200 * hello",
        ]
    )
    assert "nobody needs to see this" not in output


def test_logs_reads_what_the_worker_printed_during_this_test(project):
    project.makepyfile(
        """
        def test_logs(worker, groundflare):
            worker.get("/log", params={"text": "first"})
            assert groundflare.logs.lines == ["first"]
            groundflare.logs.clear()
            worker.put("/kv/k", content="v")
            assert groundflare.logs.lines == []
            assert [c["bindings"] for c in groundflare.logs.calls] == [["plugin-probe.KV"]]
        """
    )
    project.runpytest_subprocess().assert_outcomes(passed=1)


def test_a_seed_is_written_once_and_every_test_starts_from_it(project):
    project.makepyfile(
        conftest="""
        from pathlib import Path
        import pytest

        HERE = Path(__file__).parent

        @pytest.fixture(scope="session")
        def groundflare_seed(groundflare_stack):
            groundflare_stack.d1("DB").migrate(HERE / "migrations")
            groundflare_stack.kv("KV").put_json_file(HERE / "kv.json")
            groundflare_stack.r2("BUCKET").upload_folder(HERE / "files")
            print("seeded")
        """,
        test_seed="""
        import pytest

        @pytest.mark.parametrize("n", range(2))
        def test_starts_from_the_seed(worker, groundflare, n):
            assert worker.get("/d1").json() == ["seeded"]
            assert worker.get("/kv/flag").text == "on"
            assert worker.get("/r2/docs/readme.txt").text == "read me"
            worker.put("/d1/extra")
            groundflare.kv("KV").delete("flag")

        def other_seed(stack):
            stack.kv("KV").put("flag", "off")

        @pytest.mark.groundflare(seed=other_seed)
        def test_a_marker_brings_its_own_seed(worker):
            assert worker.get("/kv/flag").text == "off"
            assert worker.get("/d1").status_code == 200
        """,
    )
    migrations = project.mkdir("migrations")
    (migrations / "0001_notes.sql").write_text("CREATE TABLE notes (name TEXT PRIMARY KEY);\n")
    (migrations / "0002_seed.sql").write_text("INSERT INTO notes VALUES ('seeded');\n")
    (project.path / "kv.json").write_text('[{"key": "flag", "value": "on"}]')
    (project.mkdir("files") / "docs").mkdir()
    (project.path / "files" / "docs" / "readme.txt").write_text("read me")
    result = project.runpytest_subprocess("-s")
    result.assert_outcomes(passed=3)
    assert result.stdout.str().count("seeded") == 1


def test_scheduled_and_queue_handlers_run_from_a_test(project):
    project.makepyfile(
        """
        import json

        def test_scheduled(groundflare):
            assert groundflare.trigger_scheduled(cron="*/5 * * * *").outcome == "ok"
            assert json.loads(groundflare.kv("KV").get("scheduled")) == {"cron": "*/5 * * * *"}

        def test_queue(groundflare):
            bodies = [{"id": "a"}, {"id": "b", "retry": True}]
            result = groundflare.run_queue_consumer("jobs", bodies)
            assert result.outcome == "ok" and len(result.explicitAcks) == 1
            assert len(result.retryMessages) == 1
            assert groundflare.kv("KV").get("queued:a") == "jobs"
            assert groundflare.kv("KV").get("queued:b") is None
        """
    )
    project.runpytest_subprocess().assert_outcomes(passed=2)


def test_moved_time_is_set_back_before_the_next_test(project):
    project.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.parametrize("n", range(2))
        def test_a_ttl_counts_from_the_seed(groundflare, n):
            kv = groundflare.kv("KV")
            kv.put("short", "lived", expiration_ttl=3600)
            groundflare.advance_time(7200)
            assert kv.get("short") is None
            assert abs(groundflare.advance_time(0) - time.time() - 7200) < 60
        """
    )
    project.runpytest_subprocess().assert_outcomes(passed=2)


def test_xdist_gives_each_worker_its_own_stack(project):
    project.makepyfile(
        """
        import os
        from pathlib import Path
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_own_stack(worker, groundflare, n):
            assert worker.get("/kv/mine").status_code == 404
            worker.put("/kv/mine", content=os.environ["PYTEST_XDIST_WORKER"])
            line = f"{os.environ['PYTEST_XDIST_WORKER']} {groundflare.data_dir} {worker.url}\\n"
            with (Path(__file__).parent / "stacks.txt").open("a") as seen:
                seen.write(line)
        """
    )
    result = project.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=6)
    stacks = {
        tuple(line.split()) for line in (project.path / "stacks.txt").read_text().splitlines()
    }
    assert {worker for worker, _, _ in stacks} == {"gw0", "gw1"}
    assert len({data_dir for _, data_dir, _ in stacks}) == 2
    assert len({url for _, _, url in stacks}) == 2


def test_without_a_config_the_fixtures_say_how_to_set_one(pytester):
    pytester.makepyfile("def test_needs_a_stack(worker): pass")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*groundflare: no Worker configured: set groundflare_config*"])


def test_the_command_line_and_a_marker_name_configs_too(pytester):
    pytester.makepyfile(
        f"""
        import pytest

        def test_from_the_option(worker):
            assert worker.get("/kv/none").status_code == 404

        @pytest.mark.groundflare(config={str(PROBE)!r})
        def test_from_a_marker(groundflare):
            assert groundflare.workers.keys() == {{"plugin-probe"}}
        """
    )
    result = pytester.runpytest_subprocess(f"--groundflare-config={PROBE}")
    result.assert_outcomes(passed=2)


def test_several_workers_in_one_environment_from_the_ini_or_the_command_line(pytester):
    pytester.makepyfile(
        """
        def test_each_worker_in_staging(workers):
            assert list(workers) == ["do-main", "do-aux"]
            assert workers["do-aux"].get("/").json()["hello"] == "aux in staging"
            assert workers["do-main"].get("/vars").json()["TEXT"] == "plain text"
        """
    )
    pytester.makeini(
        f"[pytest]\ngroundflare_config = {DO_MAIN} {DO_AUX}\ngroundflare_env = staging\n"
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    pytester.makeini("[pytest]\n")
    options = [f"--groundflare-config={DO_MAIN}", f"--groundflare-config={DO_AUX}"]
    pytester.runpytest_subprocess(*options, "--groundflare-env=staging").assert_outcomes(passed=1)
