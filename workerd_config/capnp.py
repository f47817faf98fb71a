"""A small writer for Cap'n Proto text values, so configs are built from data, not templates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class Enum:
    """An enumerant, written bare (`style = host`)."""

    name: str


@dataclass(frozen=True)
class Embed:
    """`embed "path"`: workerd reads the file at parse time, relative to the config file."""

    path: str


@dataclass(frozen=True)
class ConstRef:
    """A reference to another constant of the same file (`.mainWorker`)."""

    name: str


Value: TypeAlias = (
    "str | bool | int | float | Enum | Embed | ConstRef | Mapping[str, Value] | Sequence[Value]"
)


def text(value: str) -> str:
    """A Cap'n Proto text literal: C-style escapes, UTF-8 kept as is."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def render(value: Value, indent: int = 0) -> str:
    pad = "  " * (indent + 1)
    end = "  " * indent
    match value:
        case bool():
            return "true" if value else "false"
        case int() | float():
            return repr(value)
        case str():
            return text(value)
        case Enum(name):
            return name
        case Embed(path):
            return f"embed {text(path)}"
        case ConstRef(name):
            return f".{name}"
        case Mapping():
            if not value:
                return "()"
            fields = [f"{pad}{key} = {render(item, indent + 1)}," for key, item in value.items()]
            return "(\n" + "\n".join(fields) + f"\n{end})"
        case Sequence():
            if not value:
                return "[]"
            items = [f"{pad}{render(item, indent + 1)}," for item in value]
            return "[\n" + "\n".join(items) + f"\n{end}]"
    raise TypeError(f"cannot render {type(value).__name__} as capnp")


def document(consts: Mapping[str, tuple[str, Value]], header: str = "") -> str:
    """A whole capnp file: the workerd import and one `const` per entry (name -> (type, value))."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines.append('using Workerd = import "/workerd/workerd.capnp";')
    for name, (type_name, value) in consts.items():
        lines.append("")
        lines.append(f"const {name} :{type_name} = {render(value)};")
    return "\n".join(lines) + "\n"
