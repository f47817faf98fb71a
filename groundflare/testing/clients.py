"""HTTP clients bound to a Worker's URL, for tests: httpx, sync and async, WebSocket
included (httpx-ws)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import httpx_ws

TIMEOUT_SECONDS = 60.0


class WorkerClient(httpx.Client):
    """`httpx.Client` whose base URL is the Worker's: `worker.get("/projects")`."""

    def __init__(self, name: str, url: str) -> None:
        super().__init__(base_url=url, timeout=TIMEOUT_SECONDS)
        self.name = name
        self.url = url

    def async_client(self, **options: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` on the same Worker (use it with `async with`)."""
        return httpx.AsyncClient(base_url=self.url, timeout=TIMEOUT_SECONDS, **options)

    @contextmanager
    def websocket(self, path: str, **options: Any) -> Iterator[httpx_ws.WebSocketSession]:
        """A WebSocket to `path`: `with worker.websocket("/ws") as ws: ws.send_text(...)`."""
        with httpx_ws.connect_ws(path, self, **options) as session:
            yield session

    @asynccontextmanager
    async def async_websocket(
        self, path: str, **options: Any
    ) -> AsyncIterator[httpx_ws.AsyncWebSocketSession]:
        async with (
            self.async_client() as client,
            httpx_ws.aconnect_ws(path, client, **options) as session,
        ):
            yield session


class Workers(Mapping[str, WorkerClient]):
    """`workers["name"]`: one client per Worker of the stack, made when first asked for."""

    def __init__(self, urls: dict[str, str]) -> None:
        self._urls = urls
        self._clients: dict[str, WorkerClient] = {}

    def __getitem__(self, name: str) -> WorkerClient:
        if name not in self._clients:
            if name not in self._urls:
                raise KeyError(f"no Worker named {name!r} in this stack ({sorted(self._urls)})")
            self._clients[name] = WorkerClient(name, self._urls[name])
        return self._clients[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._urls)

    def __len__(self) -> int:
        return len(self._urls)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
