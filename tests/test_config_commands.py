"""`groundflare config check` (drift) and `groundflare config render`."""

from __future__ import annotations

from click.testing import CliRunner

from groundflare.cli import main
from groundflare.workerd_config.drift import references
from tests.stack import REPO, WORKERS

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_the_drift_check_names_an_unbound_env_reference_with_its_line():
    result = run("config", "check", "-c", str(WORKERS / "drift" / "wrangler.toml"))
    assert result.exit_code == 1
    source = WORKERS / "drift" / "index.js"
    assert f"drifting: env.MISSING_SECRET is used at {source}:6 but not bound" in result.output
    assert "drifting: FORGOTTEN is bound but the code never reads it" in result.output
    assert "IN_A_COMMENT" not in result.output and "NODE_ENV" not in result.output


def test_object_literal_keys_named_env_are_not_env_reads(tmp_path):
    """`env: { PORT: '8080' }` builds an object (a child process's environment, a test's
    config); only destructuring reads the Worker's env."""
    source = tmp_path / "w.ts"
    source.write_text(
        "spawn('server', { env: { PORT: '8080', HOST: host.name, DEBUG: 1 } });\n"
        "const cfg = { env: { API_URL: `http://${host}` } };\n"
        "function h({ env: { KV: store, DB } }) {}\n"
    )
    assert [(r.name, r.line) for r in references(source)] == [("KV", 3), ("DB", 3)]


def test_the_drift_check_passes_on_the_example():
    result = run("config", "check", "-c", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert "controlplane: every binding is used and every env name is bound" in result.output


def test_references_cover_the_ways_code_reads_env(tmp_path):
    source = tmp_path / "w.ts"
    source.write_text(
        "const a = env.A;\n"
        "const b = this.env['B'];\n"
        "const { C, D: renamed, E = 1 } = c.env;\n"
        "export default { fetch(req, { F }: Env) {} };\n"
        "function g({ env: { G } }) {}\n"
        "/* env.H */ const i = import.meta.env.I; const j = process.env.J;\n"
    )
    assert [(r.name, r.line) for r in references(source)] == [
        ("A", 1),
        ("B", 2),
        ("C", 3),
        ("D", 3),
        ("E", 3),
        ("G", 5),
    ]


def test_render_shows_secrets_only_by_their_environment_names(tmp_path):
    result = run(
        "config",
        "render",
        "-c",
        str(WORKERS / "do-main" / "wrangler.toml"),
        "-c",
        str(WORKERS / "do-aux" / "wrangler.toml"),
        "--data-dir",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "s3cret-from-dev-vars" not in result.output
    assert 'fromEnvironment = "GROUNDFLARE_SECRET__DO_MAIN__API_KEY"' in result.output
    # No shim-backed bindings here: the token appears once, for the Cache API's store.
    assert result.output.count('value = "<per-boot shim token>"') == 1
    assert f'path = "{tmp_path}/do/do-main"' in result.output
    assert 'uniqueKey = "KvCounter"' in result.output and "enableSql = true" in result.output
    example = run("config", "render", "-c", str(EXAMPLE), "--data-dir", str(tmp_path))
    assert 'value = "<per-boot shim token>"' in example.output
    assert f'address = "unix:{tmp_path}/run/shim.sock"' in example.output
