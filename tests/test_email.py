"""Email: `[[send_email]]` bindings keep what they send as .eml files in the data dir
(`groundflare emails list | show`), with production's checks and the binding's allowed
senders and destinations; `/cdn-cgi/handler/email` runs the Worker's email() handler."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.stack import WORKERS, RunningStack, request

PROBE = WORKERS / "email" / "wrangler.toml"
RAW = (
    "From: App <app@example.com>\r\nTo: ops@example.com\r\nSubject: Deploy done\r\n"
    "Message-ID: <m1@example.com>\r\n\r\nAll green.\r\n"
)


@pytest.fixture
def stack(tmp_data, stacks) -> RunningStack:
    return stacks([PROBE], tmp_data)


def send(stack: RunningStack, path: str, payload: dict[str, Any], binding: str = "EMAIL") -> Any:
    status, body = request(f"{stack.url}{path}?binding={binding}", payload, method="POST")
    assert status == 200, body
    return json.loads(body)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "groundflare", "emails", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_a_sent_message_is_kept_as_an_eml_file_and_listed(stack, tmp_data):
    answer = send(stack, "/send", {"from": "app@example.com", "to": "ops@example.com", "raw": RAW})
    assert answer == {"ok": {"messageId": "<m1@example.com>"}}
    listed = cli("list", "--data-dir", str(tmp_data))
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    ident = line.split()[0]
    assert line.endswith("app@example.com -> ops@example.com  Deploy done")
    argv = [sys.executable, "-m", "groundflare", "emails", "show", ident, "--data-dir"]
    shown = subprocess.run([*argv, str(tmp_data)], capture_output=True, timeout=60)
    assert shown.stdout == RAW.encode()
    assert (tmp_data / "email" / "sent" / f"{ident}.eml").read_bytes() == RAW.encode()


def test_a_message_builder_becomes_a_mime_message(stack, tmp_data):
    builder = {"from": "app@example.com", "to": ["a@example.com"], "subject": "Hi", "text": "hey"}
    assert "messageId" in send(stack, "/build", builder)["ok"]
    (eml,) = (tmp_data / "email" / "sent").glob("*.eml")
    text = eml.read_bytes().decode()
    assert "From: app@example.com\r\n" in text and "Subject: Hi\r\n" in text
    assert text.endswith("\r\n\r\nhey")


@pytest.mark.parametrize(
    ("raw", "sender", "message"),
    [
        (
            RAW.replace("Message-ID: <m1@example.com>\r\n", ""),
            "app@example.com",
            "invalid message-id",
        ),
        (RAW, "other@example.com", "From: header does not match mail from"),
        ("Received: from x\r\n" + RAW, "app@example.com", "invalid headers set"),
    ],
    ids=["no-message-id", "from-mismatch", "received-header"],
)
def test_production_refuses_what_the_outbox_refuses(stack, tmp_data, raw, sender, message):
    answer = send(stack, "/send", {"from": sender, "to": "ops@example.com", "raw": raw})
    assert answer == {"error": {"name": "Error", "message": message}}
    assert not list((tmp_data / "email" / "sent").glob("*.eml"))


def test_a_bindings_allowed_senders_and_destination_are_enforced(stack):
    other_sender = {"from": "x@example.com", "to": "ops@example.com", "raw": RAW}
    assert send(stack, "/send", other_sender, "RESTRICTED")["error"]["message"] == (
        "email from x@example.com not allowed"
    )
    other_to = {"from": "app@example.com", "to": "ceo@example.com", "raw": RAW}
    assert send(stack, "/send", other_to, "RESTRICTED")["error"]["message"] == (
        "email to ceo@example.com not allowed"
    )
    fine = {"from": "app@example.com", "to": "ops@example.com", "raw": RAW}
    assert "ok" in send(stack, "/send", fine, "RESTRICTED")


def incoming(stack: RunningStack, subject: str, format_json: bool = False) -> tuple[int, bytes]:
    raw = RAW.replace("Deploy done", subject).encode()
    query = "?from=user@example.net&to=inbox@example.com" + ("&format=json" if format_json else "")
    return request(f"{stack.url}/cdn-cgi/handler/email{query}", raw, method="POST")


def test_the_email_handler_route_runs_email_with_the_message(stack):
    assert incoming(stack, "hello") == (200, b"Worker successfully processed email")
    _, body = request(stack.url + "/seen")
    seen = json.loads(body)
    assert (seen["from"], seen["to"], seen["subject"]) == (
        "user@example.net",
        "inbox@example.com",
        "hello",
    )
    assert seen["raw"] == RAW.replace("Deploy done", "hello")


def test_a_rejection_forward_and_reply_are_reported(stack):
    assert incoming(stack, "reject") == (
        400,
        b"Worker rejected email with the following reason: no thanks",
    )
    _, body = incoming(stack, "forward", format_json=True)
    assert json.loads(body)["forwards"][0]["recipient"] == "archive@example.com"
    _, body = incoming(stack, "reply", format_json=True)
    (reply,) = json.loads(body)["replies"]
    assert (reply["from"], reply["to"]) == ("inbox@example.com", "user@example.net")
    assert reply["raw"].endswith("got it")


def test_a_request_without_sender_and_recipient_is_refused(stack):
    status, body = request(f"{stack.url}/cdn-cgi/handler/email", RAW.encode(), method="POST")
    assert status == 400
    assert body.startswith(b"Invalid email. Your request must include URL parameters")


def test_sent_messages_outlive_a_restart(tmp_data, stacks):
    first = stacks([PROBE], tmp_data)
    send(first, "/send", {"from": "app@example.com", "to": "ops@example.com", "raw": RAW})
    assert first.stop() == 0
    again = stacks([PROBE], tmp_data)
    builder = {"from": "app@example.com", "to": ["a@example.com"], "subject": "Hi", "text": "hey"}
    send(again, "/build", builder)
    listed = cli("list", "--data-dir", str(tmp_data))
    assert listed.returncode == 0, listed.stderr
    subjects = sorted(line.rsplit("  ", 1)[-1] for line in listed.stdout.splitlines())
    assert subjects == ["Deploy done", "Hi"]
