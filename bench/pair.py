"""Both backends serving the same Worker, for one section; always stopped, logs on failure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.backend import Backend, log_tail, progress, start_groundflare
from bench.client import Client
from bench.miniflare import start_miniflare
from bench.worker import WorkerConfig

GROUNDFLARE = "groundflare"
MINIFLARE = "miniflare"


@dataclass(frozen=True)
class Control:
    """Another backend beside the two: groundflare (or Miniflare) on another workerd binary
    (None: its own) and/or with more `serve` options."""

    workerd: Path | None = None
    extra: Sequence[str] = ()
    miniflare: bool = False


@dataclass
class Pair:
    """The two running backends and one keep-alive client each, keyed by backend name."""

    backends: dict[str, Backend]
    clients: dict[str, Client]


@contextmanager
def side_by_side(
    wrangler_toml: Path,
    work_dir: Path,
    groundflare_extra: Sequence[str] = (),
    controls: dict[str, Control] | None = None,
) -> Iterator[Pair]:
    """Start groundflare, then Miniflare, on the same wrangler.toml; stop both on the way out.

    `controls` adds more backends (name -> Control), each on another workerd binary or with
    other options: groundflare on Miniflare's own workerd, or Miniflare on groundflare's, tells
    a workerd version apart from what each does around it.

    On a failure the backends' log tails go to stderr first: they live in `work_dir`, a temp
    dir that is gone once the section returns.
    """
    config = WorkerConfig.load(wrangler_toml)
    pair = Pair({}, {})
    with ExitStack() as stack:
        try:
            for backend in _start(config, work_dir, groundflare_extra, controls or {}):
                stack.callback(backend.stop)
                pair.backends[backend.name] = backend
                client = Client(backend.url)
                stack.callback(client.close)
                pair.clients[backend.name] = client
            yield pair
        except BaseException:
            for backend in pair.backends.values():
                progress(
                    f"{backend.name} log ({backend.log_path.name}):\n{log_tail(backend.log_path)}"
                )
            raise
        finally:
            progress(f"stopping backends ({config.name})")


def _start(
    config: WorkerConfig, work_dir: Path, extra: Sequence[str], controls: dict[str, Control]
) -> Iterator[Backend]:
    yield start_groundflare(config.wrangler_toml, work_dir, extra)
    yield start_miniflare(config, work_dir)
    for name, control in controls.items():
        if control.miniflare:
            yield start_miniflare(config, work_dir, name=name, workerd=control.workerd)
            continue
        yield start_groundflare(
            config.wrangler_toml,
            work_dir,
            [*extra, *control.extra],
            name=name,
            workerd=control.workerd,
        )
