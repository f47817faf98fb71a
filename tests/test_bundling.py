"""Bundling with esbuild as wrangler does: TypeScript, local modules, npm packages, errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest

from tests.stack import WORKERS, request, run_serve

FIXTURE = WORKERS / "typescript"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The fixture with its npm dependency installed from the registry, as a team would."""
    root = tmp_path_factory.mktemp("typed") / "typed"
    shutil.copytree(FIXTURE, root)
    npm = shutil.which("npm")
    assert npm, "npm is part of the toolchain make setup relies on"
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--no-package-lock"],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return root


def test_a_typescript_worker_with_modules_and_an_npm_package_is_bundled_and_runs(
    project, tmp_data, stacks
):
    stack = stacks([project / "wrangler.toml"], tmp_data)
    status, body = request(stack.url + "/?w=4&h=5")
    assert status == 200
    assert json.loads(body) == {
        "banner": "typed worker",
        "flavour": "local",
        "area": "20 cm²",
        "bad": "not a number: seven",
    }
    assert "bundling typed" in stack.stderr() and "bundled typed: 4 source files" in stack.stderr()
    # The text module under wrangler's name for it: the content's sha1, then the file name.
    banner = hashlib.sha1((project / "src" / "banner.txt").read_bytes()).hexdigest()
    rendered = (tmp_data / "run" / "workerd.capnp").read_text()
    assert 'name = "index.js"' in rendered and f'name = "{banner}-banner.txt"' in rendered


def test_a_syntax_error_names_the_file_and_line(project, tmp_path, tmp_data):
    broken = tmp_path / "broken"
    shutil.copytree(project, broken, symlinks=True)
    (broken / "src" / "math.ts").write_text(
        "export function area(width: number, height: number): number {\n"
        "  return width * * height;\n"
        "}\n"
    )
    result = run_serve("-c", str(broken / "wrangler.toml"), "--data-dir", str(tmp_data))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"groundflare: bundle: {broken / 'src' / 'math.ts'}:2:")
    assert "Unexpected" in last


def test_a_missing_import_names_the_importer(project, tmp_path, tmp_data):
    broken = tmp_path / "missing"
    shutil.copytree(project, broken, symlinks=True)
    (broken / "src" / "index.ts").write_text('import "./nowhere";\nexport default {};\n')
    result = run_serve("-c", str(broken / "wrangler.toml"), "--data-dir", str(tmp_data))
    assert result.returncode == 2
    assert f'{broken / "src" / "index.ts"}:1:7: Could not resolve "./nowhere"' in result.stderr


def test_a_prebuilt_bundle_runs_as_given(project, tmp_path, tmp_data, stacks):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "worker.js").write_text(
        'import note from "./note.txt";\n'
        "export default { fetch() { return new Response(`prebuilt: ${note}`); } };\n"
    )
    (dist / "note.txt").write_text("from dist")
    stack = stacks(
        [project / "wrangler.toml"], tmp_data, extra=["--bundle", str(dist / "worker.js")]
    )
    assert request(stack.url)[1] == b"prebuilt: from dist"


def test_no_bundle_runs_main_unbundled(tmp_path, tmp_data, stacks):
    (tmp_path / "lib.js").write_text("export const answer = 42;\n")
    (tmp_path / "index.js").write_text(
        'import { answer } from "./lib.js";\n'
        "export default { fetch() { return new Response(String(answer)); } };\n"
    )
    config = tmp_path / "wrangler.toml"
    config.write_text('name = "plain"\nmain = "index.js"\ncompatibility_date = "2026-11-01"\n')
    stack = stacks([config], tmp_data, extra=["--no-bundle"])
    assert request(stack.url)[1] == b"42"
    assert "bundling" not in stack.stderr()


def test_the_drift_check_reads_typescript_sources(project):
    from click.testing import CliRunner

    from groundflare.cli import main

    result = CliRunner().invoke(main, ["config", "check", "-c", str(project / "wrangler.toml")])
    assert result.exit_code == 0, result.output
    assert "typed: every binding is used and every env name is bound" in result.output
