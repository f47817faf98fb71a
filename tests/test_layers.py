"""The layers import-linter enforces cover every module: a new top-level module of the CLI
and supervisor must join the list the lower layers may not import."""

from __future__ import annotations

import tomllib

from tests.stack import REPO

LOWER_LAYERS = {"contracts", "shim", "vm", "workerd_config"}


def test_every_top_level_module_is_either_a_lower_layer_or_forbidden_to_them():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (forbidden,) = [c for c in config["contracts"] if c["type"] == "forbidden"]
    package = REPO / "groundflare"
    modules = {
        path.stem if path.suffix == ".py" else path.name
        for path in package.iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").exists())
        and path.stem not in ("__init__", "__main__")
    }
    listed = {name.removeprefix("groundflare.") for name in forbidden["forbidden_modules"]}
    assert modules - LOWER_LAYERS == listed
