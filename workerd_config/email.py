"""`cloudflare:email` for every Worker: workerd's module imports `cloudflare-internal:email`,
which only a runtime provides; ours (assets/email.js) makes `EmailMessage` a plain object a
send_email binding can receive (shim/email/kind.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from groundflare.workerd_config.model import Module, RenderContext

EMAIL_MODULE = Path(__file__).resolve().parent / "assets" / "email.js"
EMAIL_MODULE_NAME = "cloudflare-internal:email"


def email_extension(ctx: RenderContext) -> dict[str, Any]:
    return {**Module(name=EMAIL_MODULE_NAME, path=EMAIL_MODULE).capnp(ctx), "internal": True}
