"""Queues and sent email: each queue's backlog and a test message sent through the v4 push
route (`/queues/...`); the send_email outbox (.eml files in the data dir) and one message."""

from __future__ import annotations

import asyncio
from email import policy
from email.parser import BytesParser
from typing import Any

import orjson

from groundflare.shim.email.outbox import SENT, sent_messages
from groundflare.shim.explorer.v4 import V4Error, segment
from groundflare.shim.explorer.web import PREFIX, Page, Refused, redirect
from groundflare.shim.messages import Response

EMAIL_FOLDER = "email"


async def queues(page: Page) -> Response:
    found = []
    for queue in await page.v4.result("GET", "/queues"):
        described = await page.v4.result("GET", f"/queues/{segment(queue['queue_id'])}")
        found.append(described)
    return page.render("queues.html", queues=found)


async def send(page: Page) -> Response:
    form = await page.form()
    queue = form.get("queue", "")
    body: Any = form.get("body", "")
    kind = form.get("content_type", "json")
    if kind == "json":
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return redirect(f"{PREFIX}/queues", problem=f"the body is not JSON: {exc}")
    try:
        await page.v4.result(
            "POST",
            f"/queues/{segment(queue)}/messages",
            None,
            {"body": body, "content_type": kind},
        )
    except V4Error as exc:
        return redirect(f"{PREFIX}/queues", problem=exc.message)
    return redirect(f"{PREFIX}/queues", notice=f"a message was sent to {queue}")


async def emails(page: Page) -> Response:
    root = page.stack.data_dir / EMAIL_FOLDER
    sent = await asyncio.to_thread(sent_messages, root)
    return page.render("emails.html", emails=list(reversed(sent)))


async def email(page: Page) -> Response:
    ident = page.params["email"]
    path = page.stack.data_dir / EMAIL_FOLDER / SENT / f"{ident}.eml"
    if "/" in ident or not path.is_file():
        raise Refused(404, f"no sent email {ident}")
    raw = await asyncio.to_thread(path.read_bytes)
    message = BytesParser(policy=policy.default).parsebytes(raw)
    part = message.get_body(preferencelist=("plain", "html"))
    text = part.get_content() if part is not None else ""
    headers = [(name, str(value)) for name, value in message.items()]
    return page.render(
        "email.html", ident=ident, headers=headers, text=text, raw=raw.decode("utf-8", "replace")
    )


ROUTES = [
    ("GET", "/queues", queues),
    ("POST", "/queues/send", send),
    ("GET", "/email", emails),
    ("GET", "/email/{email}", email),
]
