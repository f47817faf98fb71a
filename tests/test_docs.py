"""Every CLI option and command is documented; a new one without docs fails here."""

from __future__ import annotations

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


def test_every_command_and_option_is_in_the_docs():
    text = "\n".join(page.read_text(encoding="utf-8") for page in DOCS.glob("*.md"))
    missing = []
    for path, command in commands(main):
        if f"`{path}" not in text:
            missing.append(path)
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            missing += [f"{path} {opt}" for opt in param.opts if f"`{opt}`" not in text]
    assert missing == []
