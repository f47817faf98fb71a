"""Everything groundflare's own code imports is installed by `pip install groundflare`: a
module that only the dev extra brings (aiohttp, boto3, pytest, ...) would work in this
checkout and fail in a user's install."""

from __future__ import annotations

import ast
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.stack import REPO

PACKAGE_FOLDERS = ("groundflare", "shim", "vm", "workerd_config", "contracts", "profile")
# Imported only where its absence is handled (uvloop: an ImportError fallback), by the test
# plugin only when pytest runs it, or by `groundflare bundle`, whose `bundle` extra brings
# PyInstaller and, with it, packaging.
OPTIONAL = {"pytest", "PyInstaller", "packaging", "uvloop"}


def imported_top_level_modules() -> set[str]:
    found: set[str] = set()
    for folder in PACKAGE_FOLDERS:
        for path in (REPO / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found


def requirements_of(dist: str) -> list[str]:
    """A distribution's requirements that apply here without extras."""
    found = []
    for line in metadata.requires(dist) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            found.append(requirement.name)
    return found


def runtime_requirements() -> set[str]:
    """What `pip install groundflare` installs here: its requirements, and theirs."""
    wanted = requirements_of("groundflare")
    closure: set[str] = set()
    while wanted:
        name = canonicalize_name(wanted.pop())
        if name not in closure:
            closure.add(name)
            wanted.extend(requirements_of(name))
    return closure


def test_every_third_party_import_is_a_runtime_dependency() -> None:
    providers = metadata.packages_distributions()
    installed = runtime_requirements()
    missing = {}
    for module in imported_top_level_modules():
        if module in sys.stdlib_module_names or module in OPTIONAL or module == "groundflare":
            continue
        if module.startswith("__editable__"):
            continue
        dists = {canonicalize_name(name) for name in providers.get(module, [])}
        if not dists & installed:
            missing[module] = sorted(dists) or ["(not installed)"]
    assert not missing, f"imported, but not installed by `pip install groundflare`: {missing}"
