"""Bundling as wrangler does it, on realistic projects (tests/projects/): each one served by
`groundflare serve` on real workerd, and compared with wrangler's own bundle of it
(`wrangler deploy --dry-run --outdir`, run with `--bundle`): the same modules, the same
answers."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from groundflare.cli import main
from tests.stack import REPO, eventually, request, run_serve
from tests.v4 import wrangler

PROJECTS = REPO / "tests" / "projects"
# What each project is asked, and what production answers (wrangler's bundle must agree).
ANSWERS = {
    "typed-imports": (
        "/?title=Hello%20Sandbox%20World",
        {
            "recipe": {"id": "session-hello-sandbox-world", "title": "Hello Sandbox World"},
            "described": "Hello Sandbox World (session-hello-sandbox-world)",
            "loud": "HELLO SANDBOX WORLD!",
            "initials": "HSW",
            "slug": "hello-sandbox-world",
        },
    ),
    "json-outside": ("/", {"region": "local", "plans": ["free", "team"], "seats": 11}),
    "module-rules": (
        "/",
        {
            "add": 5,
            "again": 9,
            "kit": 42,
            "sameModule": True,
            "greeting": "Hello from a text module.",
            "page": "<h1>About</h1>",
            "readme": "# Module rules",
            "notice": "Terms of use: be kind.",
        },
    ),
    "npm-conditions": (
        "/",
        {
            "build": "workerd",
            "feature": "cache for workers",
            "edge": "worker build",
            "widget": "browser widget",
        },
    ),
    "node-builtins": (
        "/?name=ada",
        {
            "base64": "YWRh",
            "sha1": hashlib.sha1(b"ada").hexdigest(),
            "heard": "ada",
            "path": "/data/ada/file.txt",
            "id": hashlib.sha256(b"ada").hexdigest()[:12],
            "store": "req-ada",
        },
    ),
    "define-alias": (
        "/",
        {
            "version": "1.4.0",
            "search": True,
            "apiBase": "https://api.example.com",
            "mode": "development",
            "client": "tiny-fetch",
            "logged": ["[worker] served"],
        },
    ),
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of tests/projects: builds and wrangler write into a project's folder."""
    root = tmp_path_factory.mktemp("projects") / "projects"
    shutil.copytree(PROJECTS, root, symlinks=True)
    return root


def config(projects: Path, name: str) -> Path:
    return next((projects / name).glob("wrangler.*"))


def answer(url: str) -> dict:
    status, body = request(url)
    assert status == 200, body
    return json.loads(body)


def bundled_modules(data_dir: Path, worker: str) -> list[str]:
    """The modules groundflare's bundle of a Worker has besides the bundle itself."""
    result = json.loads((data_dir / "bundles" / worker / "result.json").read_text())
    return sorted(m["name"] for m in result["modules"][1:])


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_each_project_is_bundled_and_answers_as_production(name, projects, tmp_path, stacks):
    path, expected = ANSWERS[name]
    stack = stacks([config(projects, name)], tmp_path / "data")
    assert answer(stack.url + path) == expected


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_config_check_and_render_take_each_project_that_starts(name, projects, tmp_path):
    path = str(config(projects, name))
    outputs = {}
    for command in ("check", "render"):
        done = CliRunner().invoke(
            main, ["config", command, "-c", path, "--data-dir", str(tmp_path / "data")]
        )
        assert done.exit_code == 0, (command, done.output)
        outputs[command] = done.output
    assert f"{name}: every binding is used" in outputs["check"]
    assert f'name = "{name}",' in outputs["render"]


def wrangler_bundle(projects: Path, name: str, out: Path, home: Path) -> Path:
    """wrangler's own bundle of a project, as `wrangler deploy` would upload it."""
    done = wrangler(
        "deploy",
        "--dry-run",
        "--outdir",
        str(out),
        "-c",
        str(config(projects, name)),
        env={"NODE_ENV": "development"},
        cwd=projects / name,
        home=home,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "index.js"


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_wranglers_bundle_of_each_project_has_the_same_modules_and_answers(
    name, projects, tmp_path, stacks
):
    path, _ = ANSWERS[name]
    bundle = wrangler_bundle(projects, name, tmp_path / "dist", tmp_path / "home")
    ours = stacks([config(projects, name)], tmp_path / "ours")
    theirs = stacks([config(projects, name)], tmp_path / "theirs", extra=["--bundle", str(bundle)])
    assert answer(ours.url + path) == answer(theirs.url + path)
    wranglers = sorted(
        p.name
        for p in bundle.parent.iterdir()
        if p.name not in ("index.js", "index.js.map", "README.md")
    )
    assert bundled_modules(tmp_path / "ours", name) == wranglers


def test_css_imported_under_a_text_rule_runs_from_wranglers_bundle(projects, tmp_path, stacks):
    """`--bundle` applies the config's [[rules]]: wrangler's `<sha1>-app.css` beside its
    bundle is a text module."""
    bundle = wrangler_bundle(projects, "css-rules", tmp_path / "dist", tmp_path / "home")
    css = projects / "css-rules" / "src" / "styles" / "app.css"
    digest = hashlib.sha1(css.read_bytes()).hexdigest()
    assert (bundle.parent / f"{digest}-app.css").is_file()
    theirs = stacks(
        [config(projects, "css-rules")], tmp_path / "theirs", extra=["--bundle", str(bundle)]
    )
    ours = stacks([config(projects, "css-rules")], tmp_path / "ours")
    expected = b"<!doctype html><style>h1 { color: rebeccapurple; }</style><h1>Dashboard</h1>"
    assert request(theirs.url) == (200, expected)
    assert request(ours.url) == (200, expected)
    assert bundled_modules(tmp_path / "ours", "css-rules") == [f"{digest}-app.css"]


def test_a_file_only_a_removed_rule_matches_is_refused_with_wranglers_message(projects, tmp_path):
    """A rule without `fallthrough = true` ends its type: wrangler's default Text rule
    (.txt) is gone, and importing a .txt file is an error."""
    project = projects / "module-rules"
    broken = tmp_path / "module-rules"
    shutil.copytree(project, broken, symlinks=True)
    shutil.copytree(projects / "shared", tmp_path / "shared")
    toml = broken / "wrangler.toml"
    toml.write_text(toml.read_text().replace("fallthrough = true\n", ""))
    result = run_serve("-c", str(toml), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    assert (
        "The file ./greeting.txt matched a module rule in your configuration "
        '({"type":"Text","globs":["**/*.txt","**/*.html","**/*.sql"]}), but was ignored '
        "because a previous rule with the same type was not marked as `fallthrough = true`."
    ) in result.stderr
    assert "does not have a fallback, the following rules will be ignored" in result.stderr


def test_a_bare_node_builtin_without_nodejs_compat_gets_wranglers_advice(projects, tmp_path):
    project = tmp_path / "node-builtins"
    shutil.copytree(projects / "node-builtins", project, symlinks=True)
    toml = project / "wrangler.toml"
    toml.write_text(toml.read_text().replace('compatibility_flags = ["nodejs_compat"]\n', ""))
    result = run_serve("-c", str(toml), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"groundflare: bundle: {project / 'src' / 'index.ts'}:4:")
    assert (
        'Could not resolve "events". The package "events" wasn\'t found on the file system but '
        'is built into node. Add the "nodejs_compat" compatibility flag to your project.'
    ) in last


def test_stack_traces_in_the_log_name_the_typescript_file_and_line(projects, tmp_path, stacks):
    stack = stacks([config(projects, "source-maps")], tmp_path / "data")
    status, body = request(stack.url + "/?steps=-1")
    assert status == 500 and b"negative step count" in body
    # The bundle starts with the import of label.txt: the map is shifted by that line.
    frame = "at runJob (src/jobs/runner.ts:10:11)"
    eventually(lambda: frame in stack.stderr(), what="the mapped frame on stderr")
    assert "at Object.fetch (src/index.ts:" in stack.stderr()
    assert frame in (tmp_path / "data" / "logs" / "workerd.log").read_text()


def test_version_metadata_is_production_shaped_and_follows_the_code(projects, tmp_path, stacks):
    project = tmp_path / "typed-imports"
    shutil.copytree(projects / "typed-imports", project)
    stack = stacks([project / "wrangler.toml"], tmp_path / "data")
    first = answer(stack.url + "/version")
    assert first["tag"] == ""
    assert uuid.UUID(first["id"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["timestamp"])
    stack.stop()
    again = stacks([project / "wrangler.toml"], tmp_path / "data")
    assert answer(again.url + "/version")["id"] == first["id"]
    again.stop()
    source = project / "src" / "lib" / "text.ts"
    source.write_text(source.read_text() + "\nexport const changed = true;\n")
    changed = stacks([project / "wrangler.toml"], tmp_path / "data")
    assert answer(changed.url + "/version")["id"] != first["id"]


def test_jsonc_with_a_comment_after_a_trailing_comma_is_read(projects):
    from groundflare.workerd_config.wrangler import read_config

    parsed = read_config(projects / "json-outside" / "wrangler.jsonc")
    assert parsed["vars"] == {"REGION": "local"}


def test_bundling_fields_are_read_and_only_find_additional_modules_is_warned_about(tmp_path):
    from datetime import date

    from groundflare.shim.registry import BUILT_IN
    from groundflare.workerd_config.wrangler import load_worker

    (tmp_path / "index.js").write_text("export default {};\n")
    (tmp_path / "wrangler.toml").write_text(
        'name = "fields"\nmain = "index.js"\ncompatibility_date = "2026-11-01"\n'
        'keep_names = false\ntsconfig = "tsconfig.json"\njsx_factory = "h"\n'
        'jsx_fragment = "Fragment"\nfind_additional_modules = true\n'
        '[alias]\n"a" = "b"\n[build]\ncommand = "true"\nwatch_dir = ["src", "lib"]\n'
        '[version_metadata]\nbinding = "VERSION"\n'
    )
    imported = load_worker(
        tmp_path / "wrangler.toml", date(2026, 11, 17), date(2026, 12, 1), BUILT_IN
    )
    assert [w.split(": ", 1)[1] for w in imported.warnings] == [
        "find_additional_modules is not supported yet and is ignored"
    ]
    settings = imported.worker.bundling
    assert (settings.keep_names, settings.alias, settings.jsx_factory) == (False, {"a": "b"}, "h")
    assert settings.tsconfig == tmp_path / "tsconfig.json"
    assert [b.name for b in imported.worker.bindings] == ["VERSION"]


def test_define_on_the_command_line_wins_over_the_config_and_bundles_plain_js(
    projects, tmp_path, stacks
):
    stack = stacks(
        [config(projects, "define-alias")],
        tmp_path / "data",
        extra=["--define", '__APP_VERSION__:"2.0.0"'],
    )
    assert answer(stack.url)["version"] == "2.0.0"
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "index.js").write_text(
        "export default { fetch() { return Response.json({ build: __BUILD__ }); } };\n"
    )
    (plain / "wrangler.toml").write_text(
        'name = "plain"\nmain = "index.js"\ncompatibility_date = "2026-11-01"\n'
    )
    other = stacks(
        [plain / "wrangler.toml"], tmp_path / "plain-data", extra=["--define", '__BUILD__:"cli"']
    )
    assert answer(other.url) == {"build": "cli"}


def test_a_define_without_a_colon_is_a_usage_error(projects, tmp_path):
    result = run_serve("-c", str(config(projects, "define-alias")), "--define", "NOPE")
    assert result.returncode == 2
    assert "Invalid value for '--define': 'NOPE' is not KEY:VALUE" in result.stderr
