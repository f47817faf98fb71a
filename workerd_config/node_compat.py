"""Which Node.js compatibility a Worker runs with, as wrangler and workerd decide it.

From wrangler's `resolveNodejsCompat` / Miniflare's `getNodeCompat`: `nodejs_compat`
(or, from 2026-08-04, the date alone) turns it on; from 2024-09-23 it implies v2, which
also resolves Node built-ins without the `node:` prefix. The bundler keeps built-ins
external accordingly and refuses, with wrangler's words, what the mode cannot serve.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

NodeCompatMode = Literal["v2", "v1", "als"] | None

DEFAULT_ON = date(2026, 8, 4)
V2_SWITCH_OVER = date(2024, 9, 23)
# Node's `builtinModules` (without the `node:`-only ones), as wrangler matches them.
NODE_BUILTINS = (
    "assert assert/strict async_hooks buffer child_process cluster console constants crypto "
    "dgram diagnostics_channel dns dns/promises domain events fs fs/promises http http2 https "
    "inspector inspector/promises module net os path path/posix path/win32 perf_hooks process "
    "punycode querystring readline readline/promises repl stream stream/consumers "
    "stream/promises stream/web string_decoder sys timers timers/promises tls trace_events tty "
    "url util util/types v8 vm wasi worker_threads zlib"
).split()


def node_compat_mode(compatibility_date: date, flags: list[str]) -> NodeCompatMode:
    default_on = compatibility_date >= DEFAULT_ON
    enabled = "nodejs_compat" in flags or (default_on and "no_nodejs_compat" not in flags)
    v2 = "nodejs_compat_v2" in flags or (
        "no_nodejs_compat_v2" not in flags
        and (default_on or (enabled and compatibility_date >= V2_SWITCH_OVER))
    )
    if v2:
        return "v2"
    if enabled:
        return "v1"
    return "als" if "nodejs_als" in flags else None


def builtin_name(specifier: str) -> str | None:
    """`buffer` for `buffer` and `node:buffer`; None for anything not built into Node."""
    bare = specifier.removeprefix("node:")
    if specifier.startswith("node:") or bare in NODE_BUILTINS:
        return bare
    return None


def missing_builtin_note(specifier: str, mode: NodeCompatMode) -> str:
    """wrangler's note under esbuild's `Could not resolve "buffer"`."""
    note = f'The package "{specifier}" wasn\'t found on the file system but is built into node.'
    if mode in (None, "als"):
        return note + ' Add the "nodejs_compat" compatibility flag to your project.'
    return (
        note + ' Make sure to prefix the module name with "node:" or update your '
        "compatibility_date to 2024-09-23 or later."
    )
