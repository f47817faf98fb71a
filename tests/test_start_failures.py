"""Every way a start fails: one line on stderr, its exit code, one `fatal` event on stdout.

This is the sidecar contract (docs/serve.md): a desktop host or CI harness sees
nothing on stdout but JSON events, and a person sees one line saying which
component failed, why, and what to do; never a traceback.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

from groundflare.contracts.events import STDOUT_EVENT, FatalEvent, events_schema
from groundflare.contracts.failures import FailureClass
from groundflare.profile import Installation
from tests.stack import REPO, WORKERS, run_serve

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"


def expect_failure(
    result: subprocess.CompletedProcess[str], line: str, failure: FailureClass, code: int
) -> FatalEvent:
    """`line` is the whole last stderr line after `groundflare: `."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"groundflare: {line}"
    (event,) = [STDOUT_EVENT.validate_json(text) for text in result.stdout.splitlines()]
    assert isinstance(event, FatalEvent)
    assert event.failure is failure
    assert line.startswith(f"{event.component}: {event.reason}")
    return event


def worker(folder: Path, toml: str = "", source: str = "") -> Path:
    config = folder / "wrangler.toml"
    config.write_text(f'name = "w"\nmain = "w.js"\ncompatibility_date = "2026-11-01"\n{toml}')
    (folder / "w.js").write_text(
        source or 'export default { fetch() { return new Response("") } };\n'
    )
    return config


def test_a_missing_workerd(tmp_data):
    missing = tmp_data / "no-workerd"
    result = run_serve(
        "-c", str(EXAMPLE), "--data-dir", str(tmp_data), env={"GROUNDFLARE_WORKERD": str(missing)}
    )
    event = expect_failure(
        result,
        f"workerd: $GROUNDFLARE_WORKERD points at {missing}, which is not an executable",
        FailureClass.MISSING,
        1,
    )
    assert event.advice == "install it (make setup) or fix its path"


def test_a_bad_wrangler_field(tmp_path, tmp_data):
    config = tmp_path / "wrangler.toml"
    config.write_text('name = "x"\nmain = "x.js"\n[[d1_databases]]\ndatabase_name = "n"\n')
    (tmp_path / "x.js").write_text("export default {}")
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data))
    expect_failure(
        result, f"config: {config}: d1_databases.0.binding: Field required", FailureClass.CONFIG, 2
    )


def test_a_missing_main_module(tmp_path, tmp_data):
    config = tmp_path / "wrangler.jsonc"
    config.write_text('{\n  // comment\n  "name": "x", "main": "src/gone.js",\n}\n')
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data))
    expect_failure(
        result,
        f"config: {config}: main: 'src/gone.js' does not exist ({tmp_path}/src/gone.js)",
        FailureClass.CONFIG,
        2,
    )


def test_a_wrangler_toml_that_is_not_utf8(tmp_path, tmp_data):
    config = tmp_path / "wrangler.toml"
    config.write_bytes(b'name = "w\xff"\nmain = "w.js"\n')
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data))
    expect_failure(
        result,
        f"config: {config}: not UTF-8 (byte 0xff at offset 9): save it as UTF-8",
        FailureClass.CONFIG,
        2,
    )


def test_a_toml_datetime_in_vars(tmp_path, tmp_data):
    config = worker(tmp_path, "[vars]\nWHEN = 2026-01-01T00:00:00Z\nDAY = { first = 2026-01-02 }\n")
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data))
    expect_failure(
        result,
        f"config: {config}: vars: Value error, WHEN is a TOML datetime, not a string: quote it, "
        'as wrangler asks (e.g. "2026-01-01T00:00:00+00:00")',
        FailureClass.CONFIG,
        2,
    )


def test_a_sandbox_upstream_that_is_not_host_and_port(tmp_data):
    result = run_serve(
        "-c", str(EXAMPLE), "--data-dir", str(tmp_data), "--sandbox-upstream", "nonsense"
    )
    expect_failure(
        result,
        "config: --sandbox-upstream: expected HOST:PORT, got 'nonsense'",
        FailureClass.CONFIG,
        2,
    )
    assert not tmp_data.exists(), "nothing is written before the options are checked"


def test_an_unparseable_profile(tmp_data):
    tmp_data.mkdir()
    (tmp_data / "profile.json").write_text("{nope")
    result = run_serve("-c", str(EXAMPLE), "--data-dir", str(tmp_data), "--port", "0")
    expect_failure(
        result,
        f"profile: {tmp_data}/profile.json is not readable JSON (Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1)): fix it, or run "
        "`groundflare profile reset` to start over",
        FailureClass.CONFIG,
        2,
    )


def test_a_profile_of_another_version(tmp_data):
    tmp_data.mkdir()
    (tmp_data / "profile.json").write_text('{"schema_version": 99}')
    result = run_serve("-c", str(EXAMPLE), "--data-dir", str(tmp_data), "--port", "0")
    expect_failure(
        result,
        f"profile: {tmp_data}/profile.json has schema_version 99; this groundflare reads "
        "version 1. Use the groundflare that wrote it, or `groundflare profile reset` to start "
        "over",
        FailureClass.CONFIG,
        2,
    )


def test_a_broken_secrets_store(tmp_data):
    install = Installation(tmp_data)
    install.create()
    sealed = tmp_data / "secrets.enc"
    sealed.write_bytes(sealed.read_bytes()[:-1] + b"?")
    key = install.store(install.load()).key_path  # type: ignore[attr-defined]
    result = run_serve("-c", str(EXAMPLE), "--data-dir", str(tmp_data), "--port", "0")
    expect_failure(
        result,
        f"secrets: {sealed} does not decrypt with {key}: run `groundflare profile reset` to "
        "create new secrets",
        FailureClass.CONFIG,
        2,
    )


def test_a_data_dir_in_use(tmp_data, stacks):
    first = stacks([EXAMPLE], tmp_data)
    result = run_serve("-c", str(EXAMPLE), "--data-dir", str(tmp_data), "--port", "0")
    expect_failure(
        result,
        f"data-dir: {tmp_data} is in use by groundflare pid {first.process.pid}: stop it first, "
        "or use another --data-dir",
        FailureClass.DATA_DIR,
        1,
    )


def expect_port_in_use(result: subprocess.CompletedProcess[str], port: int) -> None:
    expect_failure(
        result,
        f"workerd: port {port} on 127.0.0.1 is already in use: pick another --port "
        "(0 picks a free one)",
        FailureClass.PORT_IN_USE,
        1,
    )


def test_a_port_in_use(tmp_data):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("-c", str(EXAMPLE), "--data-dir", str(tmp_data), "--port", str(port))
    expect_port_in_use(result, port)


def test_a_port_another_stack_serves_on(tmp_path, tmp_data, stacks):
    # Its listener lets a reload's workerd listen beside it (SO_REUSEPORT,
    # groundflare/handover.py), which must not let a second stack share the port.
    first = stacks([EXAMPLE], tmp_path / "first")
    port = int(first.url.rsplit(":", 1)[1])
    result = run_serve("-c", str(EXAMPLE), "--data-dir", str(tmp_data), "--port", str(port))
    expect_port_in_use(result, port)


def test_a_config_workerd_rejects(tmp_path, tmp_data):
    shutil.copy(WORKERS / "d1" / "worker.js", tmp_path / "w.js")
    config = worker(
        tmp_path, 'compatibility_flags = ["no_such_flag"]\n', (tmp_path / "w.js").read_text()
    )
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data), "--port", "0")
    event = expect_failure(
        result, "workerd: " + json.loads(result.stdout)["reason"], FailureClass.CONFIG, 2
    )
    assert "No such compatibility flag: no_such_flag" in event.reason


def test_a_worker_that_fails_to_load_reports_workerds_error_not_its_output(tmp_path, tmp_data):
    config = worker(
        tmp_path,
        source='console.warn("a warning the Worker prints first");\n'
        'export default { fetch() { return new Response("") } };\n'
        'throw new Error("boom at load");\n',
    )
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data), "--port", "0")
    expect_failure(
        result,
        "workerd: service w: Uncaught Error: boom at load (at w.js:3:7)",
        FailureClass.CONFIG,
        2,
    )


def test_the_event_schema_shipped_is_the_one_the_models_give():
    on_disk = json.loads((REPO / "contracts" / "events.schema.json").read_text())
    assert on_disk == events_schema(), (
        "regenerate: groundflare events-schema > contracts/events.schema.json"
    )
