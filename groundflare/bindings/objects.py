"""Queue producers and Durable Object namespaces from Python, through the door
(bindings.js): `env.QUEUE.send()`, and a stub's RPC methods and fetch(); SQL on an object's
storage through the v4 API's query route (shim/durable_objects/rest.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from groundflare.bindings.channel import (
    ACCOUNT,
    SQL_ERROR_CODE,
    ApiRefusal,
    BindingError,
    Channel,
    StackError,
    raise_thrown,
)


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
        self,
        channel: Channel,
        worker: str,
        namespace: str,
        which: dict[str, str],
        namespace_id: str | None = None,
    ) -> None:
        self._channel = channel
        self.worker = worker
        self.namespace = namespace
        self._which = which
        # The v4 API's id of the namespace (None: its class lives outside this stack).
        self.namespace_id = namespace_id
        self._id: str | None = None

    @property
    def id(self) -> str:
        """The object's id as workerd computes it (`idFromName(name).toString()`)."""
        if self._id is None:
            self._id = str(self._channel.call(self.worker, self.namespace, "do.id", self._which))
        return self._id

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

    def sql(
        self, sql: str, params: Sequence[Any] = (), write: bool = False
    ) -> list[dict[str, Any]]:
        """Every statement of `sql` against the object's SQLite storage (`params` bind to the
        last), one D1 `query` answer each: `{"success", "results", "meta"}`, blobs as lists
        of byte values. Reads see the committed file, read-only: a write is refused unless
        `write`, which first aborts the stack's Durable Object instances, so the object's
        next call starts again from the changed file. An object that has never run reads as
        an empty database. SQLite's refusals raise BindingError as D1 words them."""
        if self.namespace_id is None:
            raise StackError(
                f"the class behind {self.namespace!r} is defined outside this stack: "
                "its objects' storage is not here"
            )
        path = (
            f"/accounts/{ACCOUNT}/workers/durable_objects/namespaces/{self.namespace_id}"
            f"/objects/{quote(self.id, safe='')}/query"
        )
        values = [
            list(bytes(p)) if isinstance(p, bytes | bytearray | memoryview) else p for p in params
        ]
        try:
            results: list[dict[str, Any]] = self._channel.v4(
                "POST", path, {"sql": sql, "params": values, "write": write}
            )
        except ApiRefusal as refusal:
            if refusal.code == SQL_ERROR_CODE:
                raise BindingError("Error", refusal.message) from None
            raise
        return results
