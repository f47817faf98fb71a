"""Every CLI option and command is documented; a new one without docs fails here."""

from __future__ import annotations

import re

import click

from groundflare.cli import main
from tests.stack import REPO

DOCS = REPO / "docs"


def commands(group: click.Group, prefix: str = "groundflare") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += commands(command, path)
        else:
            found.append((path, command))
    return found


def test_every_command_and_option_is_documented_where_its_command_is():
    """Each command is named in some page, and each of its options in a page that names
    the command (an option documented only on an unrelated page does not count)."""
    pages = {page.name: page.read_text(encoding="utf-8") for page in DOCS.glob("*.md")}
    missing = []
    for path, command in commands(main):
        homes = [text for text in pages.values() if f"`{path}" in text]
        if not homes:
            missing.append(path)
            continue
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            missing += [
                f"{path} {opt}"
                for opt in param.opts
                if not any(re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", t) for t in homes)
            ]
    assert missing == []
