"""wrangler.jsonc: JSON with comments and trailing commas."""

from __future__ import annotations

import json
import re
from typing import Any

# Strings are matched whole so that `//` or `,]` inside them are left alone.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/|,(?=\s*[\]}])', re.DOTALL)


def _strip(match: re.Match[str]) -> str:
    token = match.group(0)
    if token.startswith('"'):
        return token
    # Keep newlines so json's error positions still point at the user's line.
    return "\n" * token.count("\n") if token.startswith("/*") else ""


def loads(source: str) -> Any:
    return json.loads(_TOKEN.sub(_strip, source))
