"""What the sandbox VM is given: its CPUs and memory, its sandbox, the host folders it sees.

Part of the profile (groundflare/profile.py embeds these), defined here so the VM
backends depend on nothing above them.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VmResources(Strict):
    enabled: bool = Field(False, description="Start the sandbox microVM with the stack.")
    cpus: int = Field(1, ge=1, le=64, description="Virtual CPUs.")
    memory_mib: int = Field(512, ge=128, le=65536, description="Guest memory in MiB.")
    sandbox: Path | None = Field(
        None,
        description="The sandbox binary to run in the VM; none: the reference sandbox (a demo).",
    )


class Mount(Strict):
    """A host folder shared into the VM under /workspace."""

    host_path: Path = Field(description="Absolute folder on the host.")
    guest_path: str = Field(description="Where it appears in the guest, under /workspace.")
    read_only: bool = Field(True, description="Refuse writes from inside the VM.")

    @field_validator("host_path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("must be an absolute path")
        return value

    @field_validator("guest_path")
    @classmethod
    def _under_workspace(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not path.is_absolute() or ".." in path.parts or path.parts[:2] != ("/", "workspace"):
            raise ValueError("must be an absolute path under /workspace without '..'")
        return str(path)
