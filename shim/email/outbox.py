"""The stack's outbox: every message a `send_email` binding sent, as an `.eml` file under
`email/sent/` with a JSON file beside it (envelope, binding, subject, time), written to a
temp name, fsynced and renamed, so a listed message is always whole.

Before keeping a message the outbox checks what production's email service checks: a
`Message-ID` header, a `From` header that matches the envelope sender, no `Received`
header, at most 25 MiB.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

import orjson

from groundflare.shim.clock import Clock
from groundflare.shim.http import json_response
from groundflare.shim.messages import BodyTooLarge, Request, Response

SENT = "sent"
# Production's limit on a message (Email Routing / Email Workers).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


class Outbox:
    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self.clock = clock
        self.sent = root / SENT

    async def open(self) -> None:
        self.sent.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        pass

    async def snapshot(self, into: Path) -> None:
        await asyncio.to_thread(shutil.copytree, self.sent, into / SENT, dirs_exist_ok=True)

    async def restore(self, source: Path) -> None:
        def restore() -> None:
            shutil.rmtree(self.sent, ignore_errors=True)
            shutil.copytree(source / SENT, self.sent)

        await asyncio.to_thread(restore)

    def keep(self, raw: bytes, meta: dict[str, Any]) -> str:
        """Write one message and its metadata; its id."""
        moment = datetime.fromtimestamp(self.clock.now(), UTC)
        ident = f"{moment.strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(4)}"
        meta = {"id": ident, "at": moment.isoformat().replace("+00:00", "Z"), **meta}
        for name, data in ((f"{ident}.eml", raw), (f"{ident}.json", orjson.dumps(meta))):
            _write_durably(self.sent / name, data)
        return ident


def _write_durably(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)


def sent_messages(root: Path) -> list[dict[str, Any]]:
    """What `groundflare emails list` shows: every kept message's metadata, oldest first."""
    folder = root / SENT
    if not folder.is_dir():
        return []
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


class Refused(Exception):
    """A message production's email service would refuse; the text is its error."""


def check(raw: bytes, sender: str) -> dict[str, Any]:
    """The message's headers as production checks them; Refused otherwise."""
    headers = BytesHeaderParser(policy=default).parsebytes(raw)
    message_id = headers.get("message-id")
    if not message_id:
        raise Refused("invalid message-id")
    if parseaddr(str(headers.get("from", "")))[1] != sender:
        raise Refused("From: header does not match mail from")
    if headers.get("received") is not None:
        raise Refused("invalid headers set")
    recipients = [addr for _, addr in getaddresses([str(v) for v in headers.get_all("to", [])])]
    return {
        "message_id": str(message_id),
        "subject": str(headers.get("subject", "")),
        "header_to": recipients,
    }


async def handle(outbox: Outbox, request: Request) -> Response:
    if request.method != "POST" or request.path != "/send":
        return Response(status=404, body=b"not part of the outbox protocol")
    sender = request.headers.get("x-email-from", "")
    try:
        raw = await request.body.read(MAX_MESSAGE_BYTES)
        details = check(raw, sender)
    except BodyTooLarge:
        return Response(status=400, body=b"email message size exceeds the limit of 25 MiB")
    except Refused as exc:
        return Response(status=400, body=str(exc).encode())
    meta = {
        "from": sender,
        "to": json.loads(request.headers.get("x-email-to", "[]")),
        "binding": request.headers.get("x-email-binding", ""),
        **details,
    }
    await asyncio.to_thread(outbox.keep, raw, meta)
    return json_response(200, orjson.dumps({"messageId": details["message_id"]}))
