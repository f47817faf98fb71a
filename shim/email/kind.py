"""Email: `[[send_email]]` gives a Worker `env.NAME.send()`, a service binding to an entrypoint
(workerd_config/assets/send_email.js) that applies the binding's allowed senders and
destinations and hands the message to the stack's outbox (shim/email/outbox.py), which keeps
it as an `.eml` file under `email/sent/`.

Its store and handlers are imported in `serve()`, on first use: every start of the shim and
the supervisor imports every kind, most of them unused."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.clock import Clock
from groundflare.shim.kinds import Kind, Served
from groundflare.workerd_config.model import Module, RenderContext, ResourceBinding
from groundflare.workerd_config.wrangler_schema import BINDING_NAME, Section

SENDER = Path(__file__).resolve().parents[2] / "workerd_config" / "assets" / "send_email.js"
# One outbox for the stack, as one account sends from one place.
OUTBOX = ResourceSpec(kind="email", id="outbox", name="outbox")


class SendEmailEntry(Section):
    name: str = Field(pattern=BINDING_NAME)
    destination_address: str | None = None
    allowed_destination_addresses: list[str] | None = None
    allowed_sender_addresses: list[str] | None = None


class SendEmailBinding(ResourceBinding):
    """`env.EMAIL`: an entrypoint of its own Worker, which holds the binding's rules."""

    kind: Literal["send-email"] = "send-email"
    rules: dict[str, Any] = {}

    @property
    def sender(self) -> str:
        digest = hashlib.sha256(json.dumps(self.rules, sort_keys=True).encode()).hexdigest()
        return f"send-email-{self.name}-{digest[:12]}"

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "service": {"name": self.sender, "entrypoint": "SendEmail"}}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        worker = {
            "compatibilityDate": "2025-01-01",
            "modules": [Module(name="send_email.js", path=SENDER).capnp(ctx)],
            "bindings": [
                {"name": "NAME", "text": self.name},
                {"name": "RULES", "json": json.dumps(self.rules)},
                {"name": "OUTBOX", "service": self.service},
            ],
        }
        return [*super().capnp_services(ctx), {"name": self.sender, "worker": worker}]


class EmailKind(Kind):
    name = "email"
    wrangler_field = "send_email"
    entry = SendEmailEntry
    folder = "email"

    def binding(self, entry: SendEmailEntry) -> SendEmailBinding:
        rules = entry.model_dump(exclude={"name"}, exclude_none=True, exclude_unset=True)
        return SendEmailBinding(name=entry.name, resource=OUTBOX, rules=rules)

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        from groundflare.shim.email.outbox import Outbox, handle

        outbox = Outbox(folder, clock)
        return Served(
            resource=outbox,
            handlers={spec.tag: partial(handle, outbox)},
            file=outbox.sent,
            what="email outbox",
        )


KIND = EmailKind()
