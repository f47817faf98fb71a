"""Whether text is JSON as JavaScript's JSON.parse reads it, at any depth and any length.

KV never needs the parsed value (bulk `json` splices each value's own text into the
answer, which the Worker's JSON.parse reads), only the verdict, and the verdict must be
JSON.parse's: V8 parses nesting a million deep and integers of any number of digits,
where Python's parser stops at its recursion limit (RecursionError) and its int() at
4,300 digits. So numbers are handed to a hook that never converts them, and text too
deep for Python's C parser is checked again by a grammar walk with its own stack.
"""

from __future__ import annotations

import json
import re


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def _number(text: str) -> str:
    """Numbers are left as text: JSON.parse reads any length of digits."""
    return text


_PARSER = json.JSONDecoder(parse_constant=_not_json, parse_int=_number, parse_float=_number)

# One token after optional whitespace (JSON.parse's four characters: no BOM, no NBSP).
_TOKEN = re.compile(
    r"""[ \t\n\r]*(?:
        (?P<open>[\[{])
      | (?P<close>[\]}])
      | (?P<comma>,)
      | (?P<colon>:)
      | (?P<string>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")
      | (?P<scalar>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)
    )""",
    re.VERBOSE,
)
_TRAILING = re.compile(r"[ \t\n\r]*\Z")
# What may come next, in the walk below.
_VALUE, _VALUE_OR_END, _KEY, _KEY_OR_END, _COLON, _AFTER = range(6)
_CLOSES = {"[": "]", "{": "}"}


def is_json(text: str) -> bool:
    """JSON.parse's grammar: Python's parser without NaN/Infinity, then the deep fallback."""
    try:
        _PARSER.decode(text)
    except RecursionError:
        return _walk(text)
    except ValueError:
        return False
    return True


def _walk(text: str) -> bool:
    """The grammar with an explicit stack of open brackets, so depth costs memory only."""
    stack: list[str] = []
    expect = _VALUE
    pos = 0
    while True:
        token = _TOKEN.match(text, pos)
        if token is None:
            return False  # text ended, or a character no token starts with
        pos = token.end()
        kind = token.lastgroup
        if kind == "open" and expect in (_VALUE, _VALUE_OR_END):
            bracket = text[pos - 1]
            stack.append(bracket)
            expect = _VALUE_OR_END if bracket == "[" else _KEY_OR_END
        elif kind in ("string", "scalar") and expect in (_VALUE, _VALUE_OR_END):
            expect = _AFTER
        elif kind == "string" and expect in (_KEY, _KEY_OR_END):
            expect = _COLON
        elif kind == "colon" and expect == _COLON:
            expect = _VALUE
        elif kind == "comma" and expect == _AFTER and stack:
            expect = _VALUE if stack[-1] == "[" else _KEY
        elif kind == "close" and expect in (_AFTER, _VALUE_OR_END, _KEY_OR_END) and stack:
            if _CLOSES[stack.pop()] != text[pos - 1]:
                return False
            expect = _AFTER
        else:
            return False
        if expect == _AFTER and not stack:
            return _TRAILING.match(text, pos) is not None
