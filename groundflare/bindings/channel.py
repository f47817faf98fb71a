"""How Python reaches a running stack: its door (the Workers' bindings, scheduled(),
queue()) and the shim's own routes (the clock, snapshots, and the v4 API's routes), both on
unix sockets in the private `run/` folder. Connections are kept open between calls."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from groundflare.contracts.door import DOOR_HEADER, DoorAddress
from groundflare.contracts.layout import DataDir

TIMEOUT_SECONDS = 60.0
V4_PREFIX = "/client/v4"
# The account segment of v4 paths: the local API accepts any.
ACCOUNT = "local"
# The v4 code of a statement SQLite refused (D1's and a Durable Object's query).
SQL_ERROR_CODE = 7500
BYTES_TAG = "$bytes"
# bindings.js: the arguments of an operation whose body is a stream; the object of r2.get.
ARGS_HEADER = "x-groundflare-args"
OBJECT_HEADER = "x-groundflare-object"
# bindings.js marks an answer with it when the binding threw.
THREW_HEADER = "x-groundflare-threw"


class StackError(Exception):
    """No stack runs there, or it refused a request; the message says which."""


class ApiRefusal(StackError):
    """A v4 route's error answer: Cloudflare's numeric `code` and its message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BindingError(Exception):
    """What the binding threw inside workerd: the Worker's code would catch the same
    `name` and `message` (`str(error)`), and D1's `cause`."""

    def __init__(self, name: str, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.cause = cause


def to_wire(value: Any) -> Any:
    """Python values as bindings.js revives them: bytes become ArrayBuffers."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {BYTES_TAG: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    return value


def from_wire(value: Any) -> Any:
    """What bindings.js sent: ArrayBuffers become bytes."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(BYTES_TAG), str):
            return base64.b64decode(value[BYTES_TAG])
        return {key: from_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    return value


def header_json(value: Any) -> str:
    """JSON in a header, percent-encoded as bindings.js decodes it."""
    return quote(json.dumps(to_wire(value), separators=(",", ":")), safe="")


def _unix_client(socket: str, base: str, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=socket),
        base_url=base,
        headers=headers,
        timeout=TIMEOUT_SECONDS,
    )


class Channel:
    def __init__(self, data_dir: DataDir) -> None:
        self.data_dir = data_dir
        try:
            address = DoorAddress.model_validate_json(data_dir.door_json.read_bytes())
        except OSError as exc:
            raise StackError(
                f"no stack is running on {data_dir.root} ({data_dir.door_json}: {exc.strerror})"
            ) from exc
        self.door = _unix_client(str(address.socket), "http://door", {DOOR_HEADER: address.token})
        self.shim = _unix_client(str(data_dir.shim_socket), "http://shim")

    def close(self) -> None:
        self.door.close()
        self.shim.close()

    def door_json(self, method: str, path: str, payload: Any = None) -> Any:
        """A door route that answers JSON (a refusal is a StackError)."""
        response = self._send(self.door, method, path, json=payload)
        if response.status_code != 200:
            raise StackError(f"the door refused {path}: {response.status_code} {response.text}")
        return response.json()

    def shim_post(self, path: str, payload: Any = None) -> Any:
        """One of the shim's own routes (the clock, snapshots)."""
        response = self._send(self.shim, "POST", path, json=payload)
        answer = response.json()
        if response.status_code != 200:
            raise StackError(f"{path}: {answer.get('error', answer)}")
        return answer

    def v4(self, method: str, path: str, payload: Any = None) -> Any:
        """A route of the v4 API (`path` after /client/v4), answered by the shim on its
        socket: the envelope's `result`, or its first error raised as an ApiRefusal."""
        response = self._send(self.shim, method, f"{V4_PREFIX}{path}", json=payload)
        try:
            envelope = response.json()
            if envelope["success"]:
                return envelope["result"]
            error = envelope["errors"][0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise StackError(f"{path}: {response.status_code} {response.text}") from exc
        raise ApiRefusal(error["code"], error["message"])

    def call(self, worker: str, binding: str, operation: str, args: dict[str, Any]) -> Any:
        """A binding operation (bindings.js) and its value, as the Worker would get it."""
        response = self._send(
            self.door,
            "POST",
            operation_path(worker, binding, operation),
            content=json.dumps({"args": to_wire(args)}, separators=(",", ":")),
        )
        return answer(response)

    def stream(
        self,
        worker: str,
        binding: str,
        operation: str,
        args: dict[str, Any],
        body: bytes | Iterable[bytes] | None = None,
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """An operation whose body (or answer) is a stream: arguments travel in a header;
        the response is open until read or closed."""
        request = self.door.build_request(
            method,
            operation_path(worker, binding, operation),
            content=body,
            headers={**(headers or {}), ARGS_HEADER: header_json(args)},
        )
        try:
            return self.door.send(request, stream=True)
        except httpx.TransportError as exc:
            raise StackError(f"the stack's door does not answer: {exc}") from exc

    def _send(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise StackError(f"the stack at {self.data_dir.root} does not answer: {exc}") from exc


def operation_path(worker: str, binding: str, operation: str) -> str:
    return f"/workers/{quote(worker, safe='')}/bindings/{quote(binding, safe='')}/{operation}"


def raise_thrown(response: httpx.Response) -> None:
    """The binding's error, when it threw (the response has been read)."""
    if THREW_HEADER in response.headers:
        error = response.json()["error"]
        raise BindingError(error["name"], error["message"], error.get("cause"))


def answer(response: httpx.Response) -> Any:
    """The value of a JSON answer, or the binding's error raised."""
    raise_thrown(response)
    if response.status_code != 200:
        raise StackError(f"the door refused: {response.status_code} {response.text}")
    return from_wire(response.json()["value"])


def iter_file(file: Any, chunk: int = 1 << 16) -> Iterator[bytes]:
    while data := file.read(chunk):
        yield data
