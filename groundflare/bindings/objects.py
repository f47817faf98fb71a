"""Queue producers and Durable Object namespaces from Python, through the door
(bindings.js): `env.QUEUE.send()`, and a stub's RPC methods and fetch()."""

from __future__ import annotations

from typing import Any

import httpx

from groundflare.bindings.channel import Channel, raise_thrown


class Queue:
    """`env.QUEUE`, a queue producer."""

    def __init__(self, channel: Channel, worker: str, name: str) -> None:
        self._channel = channel
        self.worker = worker
        self.name = name

    def send(
        self, body: Any, *, content_type: str | None = None, delay_seconds: int | None = None
    ) -> None:
        options = {"contentType": content_type, "delaySeconds": delay_seconds}
        args = {"body": body, "options": {k: v for k, v in options.items() if v is not None}}
        self._channel.call(self.worker, self.name, "queue.send", args)

    def send_batch(
        self, messages: list[dict[str, Any]], *, delay_seconds: int | None = None
    ) -> None:
        """`sendBatch([{"body", "contentType"?, "delaySeconds"?}])`."""
        options = {} if delay_seconds is None else {"delaySeconds": delay_seconds}
        args = {"messages": messages, "options": options}
        self._channel.call(self.worker, self.name, "queue.sendBatch", args)


class DurableObjectStub:
    """`env.NS.get(env.NS.idFromName(name))` (or `idFromString(id)`)."""

    def __init__(
        self, channel: Channel, worker: str, namespace: str, which: dict[str, str]
    ) -> None:
        self._channel = channel
        self.worker = worker
        self.namespace = namespace
        self._which = which

    def call(self, method: str, *params: Any) -> Any:
        """An RPC method of the object (its class extends DurableObject), and its value."""
        args = {**self._which, "method": method, "params": list(params)}
        return self._channel.call(self.worker, self.namespace, "do.call", args)

    def fetch(
        self,
        path: str = "/",
        method: str = "GET",
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """`stub.fetch(request)`: the object's own Response, read whole."""
        response = self._channel.stream(
            self.worker,
            self.namespace,
            "do.fetch",
            {**self._which, "path": path},
            content.encode("utf-8") if isinstance(content, str) else content,
            method,
            headers,
        )
        response.read()
        response.close()
        raise_thrown(response)
        return response
