"""The data dir's layout (DESIGN.md): one place that knows where things live.

Binding kinds own a folder each (`d1/`, `kv/`, `r2/`, ...), named by the kind and
laid out by it; everything else is here.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

# sun_path holds 108 bytes on Linux and 104 on macOS, including the NUL.
MAX_SOCKET_PATH = 103


class DataDir(BaseModel):
    model_config = ConfigDict(frozen=True)
    root: Path

    def kind_folder(self, folder: str) -> Path:
        """A binding kind's folder (its `Kind.folder`); the kind lays out what is inside."""
        return self.root / folder

    @property
    def durable_objects(self) -> Path:
        return self.root / "do"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def shim_socket(self) -> Path:
        return self.run / "shim.sock"

    @property
    def shim_config(self) -> Path:
        return self.run / "shim.json"

    @property
    def workerd_config(self) -> Path:
        return self.run / "workerd.capnp"

    @property
    def runtime_json(self) -> Path:
        return self.run / "runtime.json"

    @property
    def deliveries_lock(self) -> Path:
        """Held by the shim that fires cron triggers and delivers queue batches: one at a
        time, across a reload's two."""
        return self.run / "deliveries.lock"

    @property
    def door_socket(self) -> Path:
        return self.run / "door.sock"

    @property
    def door_json(self) -> Path:
        """Where the door is and its token (contracts.door.DoorAddress), 0600."""
        return self.run / "door.json"

    @property
    def sandbox_json(self) -> Path:
        """Where the sandbox is and this run's token (contracts.sandbox.SandboxAddress), 0600."""
        return self.run / "sandbox.json"

    @property
    def vm_state(self) -> Path:
        """What the sandbox VM keeps across runs (its writable disk)."""
        return self.root / "vm"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def prepare(self) -> None:
        """Create the layout, private to this user (0700): it holds a Worker's data, logs,
        sockets, tokens and configs. A folder made by an older version is tightened too."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.chmod(0o700)
        for folder in (self.durable_objects, self.logs, self.run):
            folder.mkdir(mode=0o700, exist_ok=True)
        self.run.chmod(0o700)
        if len(os.fsencode(self.shim_socket)) > MAX_SOCKET_PATH:
            raise ValueError(
                f"data dir {self.root} is too deep for a unix socket path "
                f"({len(os.fsencode(self.shim_socket))} > {MAX_SOCKET_PATH} bytes): "
                "use a shorter --data-dir"
            )
