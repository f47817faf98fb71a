"""Queues and sent email: each queue's messages waiting, in flight and dead-lettered, a queue's
messages (read without leasing them), dead letters put back on their queue, and a test
message sent, all through the v4 routes (`/queues/...`); the send_email outbox (.eml files
in the data dir) and one message."""

from __future__ import annotations

import asyncio
import base64
from email import policy
from email.parser import BytesParser
from typing import Any

import orjson

from groundflare.shim.email.outbox import SENT, sent_messages
from groundflare.shim.explorer.pages.kv import view_of
from groundflare.shim.explorer.v4 import V4Error, segment
from groundflare.shim.explorer.web import PREFIX, Page, Refused, redirect
from groundflare.shim.messages import Response

EMAIL_FOLDER = "email"
# A message body is shown up to this many characters (a message may hold 128 KB).
BODY_CHARS = 2000
VIEWS = {"json": "json", "text": "text"}


def shown_body(message: dict[str, Any]) -> dict[str, Any]:
    """A listed message's body as the page shows it: JSON pretty, text as is, bytes and v8
    (structured clone) as hex; cut at BODY_CHARS."""
    raw = message["body"]
    data = base64.b64decode(raw) if message["body_encoding"] == "base64" else raw.encode()
    kind, text = view_of(data, VIEWS.get(message["content_type"], "hex"))
    return {"kind": kind, "text": text[:BODY_CHARS], "cut": len(text) > BODY_CHARS}


async def _described(page: Page) -> list[dict[str, Any]]:
    """Every queue with its counts, and `dead_letters`: where its dead-lettered messages are
    (the queue holding them and how many)."""
    found = []
    for queue in await page.v4.result("GET", "/queues"):
        found.append(await page.v4.result("GET", f"/queues/{segment(queue['queue_id'])}"))
    for queue in found:
        queue["waiting_count"] = queue["backlog_count"] - queue["in_flight_count"]
        queue["dead_letters"] = {
            holder["queue_id"]: holder["dead_lettered_from"][queue["queue_id"]]
            for holder in found
            if queue["queue_id"] in holder["dead_lettered_from"]
        }
    return found


async def queues(page: Page) -> Response:
    return page.render("queues.html", queues=await _described(page))


async def queue(page: Page) -> Response:
    name = page.params["queue"]
    found = next((q for q in await _described(page) if q["queue_id"] == name), None)
    if found is None:
        raise Refused(404, f"no queue {name}")
    listed = await page.v4.envelope("GET", f"/queues/{segment(name)}/messages")
    messages = [{**m, "shown": shown_body(m)} for m in listed["result"]]
    return page.render("queue.html", q=found, messages=messages, info=listed.get("result_info", {}))


async def requeue(page: Page) -> Response:
    name = page.params["queue"]
    back = f"{PREFIX}/queues/{segment(name)}"
    ident = (await page.form()).get("message_id", "")
    payload = {"message_ids": [ident]} if ident else {}
    try:
        done = await page.v4.result(
            "POST", f"/queues/{segment(name)}/messages/requeue", None, payload
        )
    except V4Error as exc:
        return redirect(back, problem=exc.message)
    return redirect(back, notice=f"{done['requeued']} message(s) put back on their queue")


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
    ("GET", "/queues/{queue}", queue),
    ("POST", "/queues/{queue}/requeue", requeue),
    ("GET", "/email", emails),
    ("GET", "/email/{email}", email),
]
