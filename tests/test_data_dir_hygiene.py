"""The data dir is private to its user, and nothing planted in it runs."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.stack import REPO, WORKERS, request

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"
DO_MAIN = WORKERS / "do-main" / "wrangler.toml"
DO_AUX = WORKERS / "do-aux" / "wrangler.toml"


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in root.rglob("*")}


def test_data_logs_and_databases_are_private_to_the_user(tmp_data, stacks):
    tmp_data.mkdir(mode=0o755)
    stack = stacks([EXAMPLE], tmp_data)
    assert request(stack.url + "/projects", {"name": "alpha"}, method="POST")[0] == 201
    assert request(stack.url + "/flags/beta", {"on": True}, method="PUT")[0] < 300
    assert request(stack.url + "/uploads/a.bin", b"x" * 100_000, method="PUT")[0] == 201
    assert stack.stop() == 0
    do_stack = stacks([DO_MAIN, DO_AUX], tmp_data)
    assert request(do_stack.url + "/kv/alpha/inc")[0] == 200
    assert request(do_stack.url + "/sql/beta/inc")[0] == 200
    assert do_stack.stop() == 0
    assert stat.S_IMODE(tmp_data.stat().st_mode) == 0o700
    found = modes(tmp_data)
    for folder in ("d1", "kv", "r2", "do", "logs"):
        inside = {name: mode for name, mode in found.items() if name.split("/")[0] == folder}
        files = [name for name in inside if (tmp_data / name).is_file()]
        assert files, f"nothing was written under {folder}/"
        loose = {
            name: oct(mode)
            for name, mode in inside.items()
            if mode & 0o077 or mode != (0o700 if (tmp_data / name).is_dir() else 0o600)
        }
        assert loose == {}, folder
    # Every other kind's folder, the run folder and whatever comes next: no one else's.
    assert {name: oct(mode) for name, mode in found.items() if mode & 0o077} == {}


PLANTED = """
from pathlib import Path
Path(__file__).with_name("planted-ran").write_text("yes")
"""


def test_modules_planted_in_the_run_folder_are_never_imported(tmp_data, stacks, upstream):
    run = tmp_data / "run"
    run.mkdir(parents=True)
    for module in ("uvloop", "orjson", "httptools", "apsw", "contracts", "pydantic"):
        (run / f"{module}.py").write_text(PLANTED)
    stack = stacks([EXAMPLE], tmp_data, extra=["--sandbox-upstream", upstream])
    assert request(stack.url + "/projects")[0] == 200
    assert stack.stop() == 0
    assert not (run / "planted-ran").exists()
