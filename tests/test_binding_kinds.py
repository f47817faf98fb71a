"""A binding kind is one folder plus one registry line: a throwaway kind from a test
folder, loaded through `$GROUNDFLARE_KINDS` alone, is served through real workerd."""

from __future__ import annotations

from tests.stack import REPO, request, run_serve

KIND_FOLDER = REPO / "tests" / "kinds" / "counter"
PLUGIN = {"GROUNDFLARE_KINDS": str(KIND_FOLDER / "kind.py")}


def test_a_kind_from_a_test_folder_is_served_through_workerd_and_persists(tmp_data, stacks):
    config = KIND_FOLDER / "wrangler.toml"
    first = stacks([config], tmp_data, env=PLUGIN)
    assert [request(first.url)[1] for _ in range(3)] == [b"hits: 1", b"hits: 2", b"hits: 3"]
    assert first.stop() == 0
    assert (tmp_data / "counters" / "visits.count").read_text() == "3"
    again = stacks([config], tmp_data, env=PLUGIN)
    assert request(again.url) == (200, b"hits: 4")


def test_without_the_kind_its_field_is_named_as_ignored(tmp_data, stacks):
    stack = stacks([KIND_FOLDER / "wrangler.toml"], tmp_data)
    assert "counters is not supported yet and is ignored" in stack.stderr()
    assert request(stack.url)[0] == 500


def test_a_plugin_that_defines_no_kind_is_a_config_failure(tmp_path, tmp_data):
    plugin = tmp_path / "empty.py"
    plugin.write_text("VALUE = 1\n")
    result = run_serve(
        "-c",
        str(KIND_FOLDER / "wrangler.toml"),
        "--data-dir",
        str(tmp_data),
        env={"GROUNDFLARE_KINDS": str(plugin)},
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"groundflare: config: binding kind plugin {plugin}: it defines no KIND "
        "(a groundflare.shim.kinds.Kind)"
    )
