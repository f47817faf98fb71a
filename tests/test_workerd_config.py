"""The stack model, its wrangler import and its capnp rendering (pure functions)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.d1.kind import D1Binding
from groundflare.shim.registry import BUILT_IN as KINDS
from groundflare.workerd_config import capnp
from groundflare.workerd_config.model import (
    JsonBinding,
    Module,
    RenderContext,
    SecretBinding,
    ShimAddress,
    Stack,
    TextBinding,
    Worker,
)
from groundflare.workerd_config.render import render_config
from groundflare.workerd_config.wrangler import ConfigError, load_worker, read_config

NEWEST = date(2026, 11, 17)
TODAY = date(2026, 12, 1)


def test_capnp_text_escapes():
    assert capnp.text('a "q" \\ \n\t\x01 é') == '"a \\"q\\" \\\\ \\n\\t\\x01 é"'


def test_capnp_render_nested_values():
    value = {"a": [1, True, capnp.Enum("host")], "e": capnp.Embed("x.js"), "r": capnp.ConstRef("w")}
    assert capnp.render(value) == (
        '(\n  a = [\n    1,\n    true,\n    host,\n  ],\n  e = embed "x.js",\n  r = .w,\n)'
    )
    assert capnp.render({}) == "()"
    assert capnp.render([]) == "[]"


def test_jsonc_takes_comments_anywhere_and_trailing_commas_but_leaves_strings(tmp_path):
    config = tmp_path / "wrangler.jsonc"
    config.write_text(
        '{\n // c\n "a": "x // y", /* z */ "b": [1, 2, // why\n],\n "c": "/* k */",\n}'
    )
    assert read_config(config) == {"a": "x // y", "b": [1, 2], "c": "/* k */"}


def stack(tmp_path: Path) -> tuple[Stack, RenderContext]:
    db = ResourceSpec(kind="d1", id="db-1", name="main")
    worker = Worker(
        name="api",
        modules=[Module(name="index.js", path=tmp_path / "src" / "index.js")],
        compatibility_date=date(2026, 11, 1),
        compatibility_flags=["nodejs_compat"],
        bindings=[
            TextBinding(name="GREETING", value="hi"),
            JsonBinding(name="LIMITS", value={"n": 1}),
            SecretBinding(name="API_KEY", env="GROUNDFLARE_SECRET_API_KEY"),
            D1Binding(name="DB", resource=db),
            D1Binding(name="SAME_DB", resource=db),
        ],
    )
    ctx = RenderContext(
        shim=ShimAddress(socket=tmp_path / "run" / "shim.sock", token="tok"),
        config_dir=tmp_path / "run",
    )
    return Stack(workers=[worker]), ctx


def test_render_wires_d1_through_one_tagged_external_service(tmp_path):
    text = render_config(*stack(tmp_path))
    assert text.count('name = "shim-d1-db-1"') == 1
    assert f'address = "unix:{tmp_path}/run/shim.sock"' in text
    assert 'value = "d1:db-1"' in text and 'value = "tok"' in text
    assert 'moduleName = "cloudflare-internal:d1-api"' in text
    assert 'esModule = embed "../src/index.js"' in text
    assert 'fromEnvironment = "GROUNDFLARE_SECRET_API_KEY"' in text
    assert 'json = "{\\"n\\": 1}"' in text
    assert 'address = "127.0.0.1:0"' in text
    assert "d1_binding_jsrpc" not in text


def test_render_without_a_token_shows_a_placeholder(tmp_path):
    s, ctx = stack(tmp_path)
    preview = ctx.model_copy(update={"shim": ShimAddress(socket=ctx.shim.socket)})
    assert "<per-boot shim token>" in render_config(s, preview)


def test_stack_lists_each_database_once(tmp_path):
    s, _ = stack(tmp_path)
    assert s.resources() == [ResourceSpec(kind="d1", id="db-1", name="main")]
    assert s.secret_envs() == ["GROUNDFLARE_SECRET_API_KEY"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / "index.js").write_text("export default {}")
    path = tmp_path / name
    path.write_text(text)
    return path


def test_wrangler_toml_import(tmp_path):
    path = write(
        tmp_path,
        "wrangler.toml",
        """
name = "api"
main = "index.js"
compatibility_date = "2026-10-01"
compatibility_flags = ["nodejs_compat"]
[vars]
GREETING = "hi"
LIMITS = { n = 1 }
[[d1_databases]]
binding = "DB"
database_name = "main"
database_id = "db-1"
""",
    )
    imported = load_worker(path, NEWEST, TODAY, KINDS)
    worker = imported.worker
    assert imported.warnings == []
    assert worker.compatibility_date == date(2026, 10, 1)
    assert worker.compatibility_flags == ["nodejs_compat"]
    assert worker.modules == [Module(name="index.js", path=tmp_path / "index.js")]
    assert worker.bindings == [
        TextBinding(name="GREETING", value="hi"),
        JsonBinding(name="LIMITS", value={"n": 1}),
        D1Binding(name="DB", resource=ResourceSpec(kind="d1", id="db-1", name="main")),
    ]


def test_wrangler_jsonc_import(tmp_path):
    path = write(
        tmp_path,
        "wrangler.jsonc",
        """{
  // production config
  "name": "api", "main": "index.js", "compatibility_date": "2026-10-01",
  "d1_databases": [{"binding": "DB", "database_name": "main", "database_id": "db-1",},],
}""",
    )
    assert load_worker(path, NEWEST, TODAY, KINDS).worker.bindings == [
        D1Binding(name="DB", resource=ResourceSpec(kind="d1", id="db-1", name="main"))
    ]


def test_compatibility_dates_are_clamped_to_the_binary_and_today(tmp_path):
    path = write(
        tmp_path,
        "wrangler.toml",
        'name = "a"\nmain = "index.js"\ncompatibility_date = "2030-01-01"\n',
    )
    imported = load_worker(path, NEWEST, TODAY, KINDS)
    assert imported.worker.compatibility_date == NEWEST
    assert (
        "2030-01-01 is newer than this workerd supports; running with 2026-11-17"
        in (imported.warnings[0])
    )
    assert load_worker(path, date(2027, 1, 1), TODAY, KINDS).worker.compatibility_date == TODAY


def test_unsupported_fields_are_named_in_warnings(tmp_path):
    path = write(
        tmp_path,
        "wrangler.toml",
        'name = "a"\nmain = "index.js"\n'
        'compatibility_date = "2026-01-01"\n[triggers]\ncrons = []\nsomething = 1\n'
        '[[d1_databases]]\nbinding = "DB"\nfancy = true\n',
    )
    warnings = load_worker(path, NEWEST, TODAY, KINDS).warnings
    assert any("triggers.something is not supported yet" in w for w in warnings)
    assert any("d1_databases[0].fancy is not supported yet" in w for w in warnings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "a"\n', "main: Field required"),
        ('name = "a b"\nmain = "index.js"\n', "name: String should match pattern"),
        (
            'name = "a"\nmain = "index.js"\n[[d1_databases]]\nbinding = 1\n',
            "d1_databases.0.binding: Input should be a valid string",
        ),
        ("name = \n", "not valid toml"),
    ],
)
def test_bad_configs_name_the_field(tmp_path, text, message):
    path = write(tmp_path, "wrangler.toml", text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_worker(path, NEWEST, TODAY, KINDS)
    assert str(caught.value).startswith(str(path))


def test_sidecar_d1_http_declares_a_service_and_url_var(tmp_path):
    path = write(
        tmp_path,
        "wrangler.toml",
        'name = "a"\nmain = "index.js"\n'
        'compatibility_date = "2026-01-01"\n[[d1_databases]]\nbinding = "DB"\n'
        'database_id = "db-1"\ndatabase_name = "main"\n',
    )
    (tmp_path / "groundflare.toml").write_text(
        '[[d1_http]]\nbinding = "D1_SHIM"\ndatabase = "DB"\nurl_var = "D1_HTTP_URL"\n'
    )
    bindings = load_worker(path, NEWEST, TODAY, KINDS).worker.bindings
    assert [(b.kind, b.name) for b in bindings] == [
        ("d1", "DB"),
        ("shim-service", "D1_SHIM"),
        ("text", "D1_HTTP_URL"),
    ]
    (tmp_path / "groundflare.toml").write_text('[[d1_http]]\nbinding = "X"\ndatabase = "NOPE"\n')
    with pytest.raises(ConfigError, match="'NOPE' is not the binding of a"):
        load_worker(path, NEWEST, TODAY, KINDS)


def test_kv_and_r2_bindings_import_and_render(tmp_path):
    path = write(
        tmp_path,
        "wrangler.toml",
        'name = "a"\nmain = "index.js"\n'
        'compatibility_date = "2026-01-01"\n'
        '[[kv_namespaces]]\nbinding = "SESSIONS"\nid = "0f2ac74b498b48028cb68387c421e279"\n'
        '[[r2_buckets]]\nbinding = "UPLOADS"\nbucket_name = "uploads"\n'
        '[[r2_buckets]]\nbinding = "LOCAL_ONLY"\n',
    )
    worker = load_worker(path, NEWEST, TODAY, KINDS).worker
    assert [(b.kind, b.name) for b in worker.bindings] == [
        ("kv", "SESSIONS"),
        ("r2", "UPLOADS"),
        ("r2", "LOCAL_ONLY"),
    ]
    stack = Stack(workers=[worker])
    assert [(r.kind, r.id) for r in stack.resources()] == [
        ("kv", "0f2ac74b498b48028cb68387c421e279"),
        ("r2", "uploads"),
        ("r2", "LOCAL_ONLY"),
    ]
    ctx = RenderContext(
        shim=ShimAddress(socket=tmp_path / "s.sock", token="t"), config_dir=tmp_path
    )
    text = render_config(stack, ctx)
    assert 'kvNamespace = "shim-kv-0f2ac74b498b48028cb68387c421e279"' in text
    assert 'r2Bucket = "shim-r2-uploads"' in text
    assert 'value = "r2:uploads"' in text
