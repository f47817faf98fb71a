"""No binding disappears silently: a binding groundflare cannot provide is a warning naming
the env name the Worker will miss, and `config check` fails when the code reads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = """name = "w"
main = "w.js"
compatibility_date = "2026-11-01"

[ai]
binding = "AI"

[[vectorize]]
binding = "INDEX"
index_name = "docs"

[limits]
cpu_ms = 50000

[observability]
enabled = true
"""


def project(folder: Path) -> Path:
    (folder / "w.js").write_text(
        "export default {\n  async fetch(request, env) {\n"
        "    return Response.json(await env.AI.run('@cf/model', {}));\n  },\n};\n"
    )
    config = folder / "wrangler.toml"
    config.write_text(CONFIG)
    return config


def test_serve_warns_about_each_binding_it_cannot_provide(tmp_path, tmp_data, stacks):
    config = project(tmp_path)
    stderr = stacks([config], tmp_data).stderr()
    assert (
        f"{config}: ai: Workers AI is not available locally; env.AI will be undefined in the Worker"
    ) in stderr
    assert f"{config}: vectorize: Vectorize is not available locally; env.INDEX" in stderr
    assert "limits" not in stderr and "observability" not in stderr


def test_config_check_fails_on_an_unprovidable_binding_the_code_reads(tmp_path):
    config = project(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "groundflare", "config", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert (
        f"w: env.AI is used at {(tmp_path / 'w.js').resolve()}:3 but Workers AI cannot be "
        "provided locally"
    ) in result.stdout.splitlines()
