"""Where a running stack's sandbox is and how to address it: `run/sandbox.json` (0600, in the
0700 run dir), as `door.json` is for the door. `groundflare vm shell` and the benchmark read
it; nothing else holds the token outside the supervisor, the proxy and workerd.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SandboxAddress(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # The sandbox itself (QEMU's forward), not the proxy: http://127.0.0.1:PORT
    url: str
    # This run's internal token, and the header (and scheme) the sandbox checks it in.
    token: str
    header: str
    scheme: str | None = None
    # The sandbox's interactive shell (WebSocket), if it has one.
    pty_path: str | None = None

    def credential(self) -> tuple[str, str]:
        return self.header, f"{self.scheme} {self.token}" if self.scheme else self.token
