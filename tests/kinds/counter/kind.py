"""A throwaway binding kind, added through the registry alone (`$GROUNDFLARE_KINDS`):
`[[counters]]` gives a Worker `env.NAME`, a Fetcher whose `POST /` adds one to a
counter kept in the data dir (`counters/<id>.count`) and answers the new value."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from groundflare.contracts.names import file_part
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.clock import Clock
from groundflare.shim.kinds import Kind, Served
from groundflare.shim.messages import Request, Response
from groundflare.workerd_config.model import RenderContext, ResourceBinding
from groundflare.workerd_config.wrangler_schema import BINDING_NAME, ResourceName, Section


class CounterEntry(Section):
    binding: str = Field(pattern=BINDING_NAME)
    id: ResourceName


class CounterBinding(ResourceBinding):
    kind: Literal["counter"] = "counter"

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "service": self.service}


class Counter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.value = 0

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.value = int(self.path.read_text())

    async def close(self) -> None:
        pass

    async def snapshot(self, into: Path) -> None:
        _save(into / "count", self.value)

    async def restore(self, source: Path) -> None:
        self.value = int(_load(source / "count"))
        _save(self.path, self.value)

    def add_one(self) -> int:
        self.value += 1
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(self.value))
        tmp.replace(self.path)
        return self.value


def _save(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(value))


def _load(path: Path) -> str:
    return path.read_text()


async def handle(counter: Counter, request: Request) -> Response:
    if request.method != "POST":
        return Response(status=405)
    return Response(body=str(counter.add_one()).encode())


class CounterKind(Kind):
    name = "counter"
    wrangler_field = "counters"
    entry = CounterEntry
    folder = "counters"

    def binding(self, entry: CounterEntry) -> CounterBinding:
        return CounterBinding(
            name=entry.binding, resource=ResourceSpec(kind=self.name, id=entry.id)
        )

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        counter = Counter(folder / f"{file_part(spec.id)}.count")
        return Served(
            resource=counter,
            handlers={spec.tag: partial(handle, counter)},
            file=counter.path,
            what="counter",
        )


KIND = CounterKind()
