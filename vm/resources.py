"""What the sandbox VM is given: its CPUs and memory, its image, its sandbox and how that
sandbox is reached, the writable layer, the host folders it sees.

Part of the profile (groundflare/profile.py embeds these), defined here so the VM
backends depend on nothing above them.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# What the dev-tools image holds unless the profile says otherwise (issue 16).
DEFAULT_PACKAGES = (
    "bash",
    "build-essential",
    "ca-certificates",
    "curl",
    "git",
    "nodejs",
    "python3",
)
REFERENCE_TOKEN_FD_VAR = "GROUNDFLARE_TOKEN_FD"
REFERENCE_HEADER = "X-Groundflare-Sandbox"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An HTTP field name (RFC 9110 token) and an auth scheme (also a token).
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Debian package names (policy 5.6.1), optionally pinned: name=version.
PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _env_name(value: str) -> str:
    if not ENV_NAME.match(value) or value.startswith("GROUNDFLARE_"):
        raise ValueError("must be an environment variable name not starting with GROUNDFLARE_")
    return value


def _guest_path(value: str, under: str = "/") -> str:
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts or any(c in value for c in "\n\0 "):
        raise ValueError("must be an absolute guest path without '..', spaces or newlines")
    if not str(path).startswith(under):
        raise ValueError(f"must be under {under}")
    return str(path)


class TokenByFd(Strict):
    """The token on an open file descriptor whose number is in `$<name>` (the reference way):
    no file, argv or environment holds it once the sandbox has read it."""

    via: Literal["fd"] = "fd"
    name: str = Field(REFERENCE_TOKEN_FD_VAR, description="Variable holding the fd number.")


class TokenByEnv(Strict):
    """The token in the sandbox's environment, `$<name>`: readable in /proc/<pid>/environ by
    processes of the sandbox's uid unless the sandbox makes itself non-dumpable, and
    inherited by the commands it runs unless it removes it."""

    via: Literal["env"] = "env"
    name: str = Field("SANDBOX_INTERNAL_TOKEN", description="Environment variable name.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _env_name(value)


class TokenByFile(Strict):
    """The token in a file (0400, owned by the sandbox's uid) on a tmpfs in the guest:
    readable by every process of the sandbox's uid for as long as the file exists."""

    via: Literal["file"] = "file"
    path: str = Field("/run/sandbox/token", description="Guest path, under /run.")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _guest_path(value, "/run/")


TokenDelivery = Annotated[TokenByFd | TokenByEnv | TokenByFile, Field(discriminator="via")]


class SandboxContract(Strict):
    """The sandbox binary and the contract it keeps: what it is started with, where it
    listens, how it learns the internal token and how it checks it."""

    path: Path | None = Field(
        None,
        description="The sandbox binary, or a folder holding it and its assets (copied to "
        "/opt/sandbox in the guest); none: the reference sandbox (a demo).",
    )
    command: str | None = Field(
        None, description="For a folder: the executable inside it (relative path)."
    )
    args: list[str] = Field([], description="Arguments after the executable.")
    env: dict[str, str] = Field({}, description="Extra environment variables.")
    port: int = Field(8080, ge=1, le=65535, description="Guest TCP port the sandbox listens on.")
    token: TokenDelivery = Field(
        default_factory=TokenByFd, description="How the sandbox receives the internal token."
    )
    header: str = Field(REFERENCE_HEADER, description="Request header carrying the token.")
    scheme: str | None = Field(
        None, description="Auth scheme before the token in that header, e.g. `Bearer`."
    )
    health_path: str = Field("/health", description="Answers 200 (with the token) when ready.")
    pty_path: str | None = Field(
        "/pty",
        description="WebSocket endpoint of an interactive shell (`groundflare vm shell`): "
        "binary frames carry the terminal's bytes, a text frame "
        '`{"type":"resize","cols":C,"rows":R}` its size. None: the sandbox has none.',
    )

    @field_validator("path", mode="before")
    @classmethod
    def _expand(cls, value: object) -> object:
        return Path(value).expanduser() if isinstance(value, str) else value

    @field_validator("args")
    @classmethod
    def _args(cls, value: list[str]) -> list[str]:
        if any("\n" in arg or "\0" in arg for arg in value):
            raise ValueError("arguments may not hold newlines or NUL")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            _env_name(name)
            if "\n" in text or "\0" in text:
                raise ValueError(f"{name}: values may not hold newlines or NUL")
        return value

    @field_validator("header", "scheme")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not TOKEN.match(value):
            raise ValueError("must be an HTTP token (letters, digits, -, ...)")
        return value

    @field_validator("health_path", "pty_path")
    @classmethod
    def _http_path(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or any(c in value for c in " \r\n")):
            raise ValueError("must be a request path starting with /")
        return value

    @field_validator("command")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None:
            path = PurePosixPath(value)
            if path.is_absolute() or ".." in path.parts or "\n" in value:
                raise ValueError("must be a relative path inside the sandbox folder")
        return value

    @model_validator(mode="after")
    def _command_for_a_folder(self) -> SandboxContract:
        if self.path is not None and self.path.is_dir() and self.command is None:
            raise ValueError("a sandbox folder needs `command`: the executable inside it")
        return self

    def credential(self, token: str) -> tuple[str, str]:
        """The header the sandbox checks and its value for this token."""
        return self.header, f"{self.scheme} {token}" if self.scheme else token


class Writable(Strict):
    """The guest's writable layer: bounded, so a full disk is the guest's ENOSPC, not ours."""

    kind: Literal["tmpfs", "disk"] = Field(
        "tmpfs",
        description="`tmpfs`: in guest memory, empty at each boot; `disk`: a per-profile "
        "ext4 disk in the data dir that keeps what was written across boots (dev-tools image).",
    )
    size_mib: int = Field(
        1024, ge=16, le=1 << 20, description="The most the guest can write there (MiB)."
    )


class WorkerBindings(Strict):
    """How the Workers learn the sandbox's address and internal token (as production's
    control plane does from its `.dev.vars`)."""

    url: str | None = Field("SANDBOX_URL", description="Text binding: the sandbox's URL.")
    token: str | None = Field(
        "SANDBOX_INTERNAL_TOKEN", description="Secret binding: the token the sandbox checks."
    )
    workers: list[str] = Field([], description="Which Workers get them; empty: every Worker.")


class VmResources(Strict):
    enabled: bool = Field(False, description="Start the sandbox microVM with the stack.")
    cpus: int = Field(1, ge=1, le=64, description="Virtual CPUs.")
    memory_mib: int = Field(512, ge=128, le=65536, description="Guest memory in MiB.")
    image: Literal["minimal", "dev-tools"] = Field(
        "minimal",
        description="`minimal`: busybox in the initramfs; `dev-tools`: a Debian root file "
        "system with `packages` and `extra_packages`.",
    )
    packages: list[str] = Field(
        list(DEFAULT_PACKAGES), description="Debian packages of the dev-tools image."
    )
    extra_packages: list[str] = Field([], description="More Debian packages for it.")
    writable: Writable = Writable()
    snapshot: bool = Field(
        True,
        description="Boot by restoring a snapshot of the booted guest (taken at its first "
        "boot), re-keyed for each boot.",
    )
    sandbox: SandboxContract = SandboxContract()
    bindings: WorkerBindings | None = WorkerBindings()

    @field_validator("sandbox", mode="before")
    @classmethod
    def _a_bare_path(cls, value: object) -> object:
        """Profiles written before the contract named only the binary (or null)."""
        if value is None or isinstance(value, str | Path):
            return {"path": value}
        return value

    @field_validator("packages", "extra_packages")
    @classmethod
    def _packages(cls, value: list[str]) -> list[str]:
        for name in value:
            if not PACKAGE.match(name):
                raise ValueError(f"{name!r} is not a Debian package name")
        return value

    def all_packages(self) -> list[str]:
        return sorted({*self.packages, *self.extra_packages})


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
