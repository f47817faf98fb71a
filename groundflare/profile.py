"""The desktop profile: one install's identity, VM resources, mounts, ports and secrets.

`profile.json` (in the data dir) holds everything but the secrets, which live in
the OS credential store or an encrypted file (groundflare/secret_store.py). The
pydantic model here is the single source; `profile/schema.json` is generated
from it (`groundflare profile schema`).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from groundflare.contracts.traces import TraceRetention
from groundflare.paths import write_private
from groundflare.secret_store import SecretStore, SecretStoreError, new_secret, open_store
from groundflare.vm.resources import Mount, VmResources
from groundflare.workerd_config.model import OutboundPolicy
from groundflare.workerd_config.outbound import DEFAULT_OUTBOUND

SCHEMA_VERSION = 1
PROFILE_FILE = "profile.json"
SecretName = Literal["api_token", "secrets_key", "s3_access_key_id", "s3_secret_access_key"]
# The sandbox's internal token is not one of them: it is new for every run (docs/vm.md).
SECRET_NAMES: tuple[SecretName, ...] = (
    "api_token",
    "secrets_key",
    # R2's S3 API on the REST listener (SigV4): the key id is shown, the secret on request.
    "s3_access_key_id",
    "s3_secret_access_key",
)


class ProfileError(Exception):
    """The profile cannot be used as it is; the message says what to do."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Ports(Strict):
    """Loopback ports; 0 picks a free one at each start (the ready line tells which)."""

    api: int = Field(0, ge=0, le=65535, description="The local REST API.")
    sandbox: int = Field(0, ge=0, le=65535, description="The sandbox proxy for the frontend.")


class Traces(Strict):
    """The explorer's request log (docs/explorer.md): every Worker invocation, its console
    lines, exceptions and binding calls, kept within both bounds."""

    enabled: bool = Field(
        True, description="Record invocations (`serve --traces/--no-traces` overrides it)."
    )
    max_age_hours: float = Field(24.0, gt=0, description="Invocations older than this go.")
    max_mb: int = Field(64, ge=1, description="The log's file is kept under this size (MiB).")

    def retention(self) -> TraceRetention:
        return TraceRetention(max_age_hours=self.max_age_hours, max_mb=self.max_mb)


class Profile(Strict):
    schema_version: Literal[1] = 1
    install_id: str = Field(description="Random per install; names the credential-store entry.")
    created_at: datetime
    vm: VmResources = VmResources()
    mounts: list[Mount] = []
    ports: Ports = Ports()
    cors_origins: list[str] = Field(
        [], description="Origins allowed to call the sandbox proxy from a browser; none by default."
    )
    outbound: OutboundPolicy = Field(
        DEFAULT_OUTBOUND,
        description="Where Workers' own fetch() and connect() may go: `all` (public, private "
        "and loopback addresses, as Miniflare), `private` (not loopback) or `public` (as "
        "production). `serve --outbound` overrides it.",
    )
    traces: Traces = Traces()
    cache: bool = Field(
        True,
        description="The Workers' Cache API keeps what they put in the data dir, as in "
        "production; off, every match() misses. `serve --cache/--no-cache` overrides it.",
    )

    @classmethod
    def fresh(cls) -> Profile:
        return cls(install_id=uuid.uuid4().hex, created_at=datetime.now(UTC))


def schema() -> dict[str, object]:
    return Profile.model_json_schema()


class Installation:
    """A data dir's profile and its secrets, loaded (or created) together."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / PROFILE_FILE

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> Profile:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ProfileError(
                f"{self.path} is not readable JSON ({exc}): fix it, or run "
                "`groundflare profile reset` to start over"
            ) from exc
        version = raw.get("schema_version") if isinstance(raw, dict) else None
        if version != SCHEMA_VERSION:
            raise ProfileError(
                f"{self.path} has schema_version {version!r}; this groundflare reads version "
                f"{SCHEMA_VERSION}. Use the groundflare that wrote it, or `groundflare profile "
                "reset` to start over"
            )
        try:
            return Profile.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ProfileError(f"{self.path}: {problems}") from exc

    def store(self, profile: Profile) -> SecretStore:
        return open_store(self.data_dir, profile.install_id)

    def save(self, profile: Profile) -> None:
        write_private(self.path, profile.model_dump_json(indent=2).encode("utf-8") + b"\n")

    def create(self) -> Profile:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        profile = Profile.fresh()
        self.store(profile).write({name: new_secret() for name in SECRET_NAMES})
        self.save(profile)
        return profile

    def load_or_create(self) -> Profile:
        return self.load() if self.exists() else self.create()

    def secrets(self, profile: Profile) -> dict[str, str]:
        """Every secret, creating any that is missing (a profile from before it existed).
        SecretStoreError when the store cannot be read or written, whatever the backend."""
        store = self.store(profile)
        try:
            values = store.read()
            if not isinstance(values, dict):
                raise ValueError("the stored secrets are not a JSON object")
            missing = [name for name in SECRET_NAMES if name not in values]
            if missing:
                values.update({name: new_secret() for name in missing})
                store.write(values)
        except SecretStoreError:
            raise
        except Exception as exc:  # keyring backends raise their own kinds; all mean the same
            raise SecretStoreError(
                f"the {store.kind} secret store for {self.data_dir} failed "
                f"({type(exc).__name__}: {exc}): repair it, or run `groundflare profile reset` "
                "to create new secrets"
            ) from exc
        return values

    def rotate(self, profile: Profile, name: SecretName) -> None:
        values = self.secrets(profile)
        values[name] = new_secret()
        self.store(profile).write(values)

    def reset(self) -> Profile:
        """Forget the profile and its secrets (even unreadable ones), then create new ones."""
        if self.exists():
            with contextlib.suppress(ProfileError):
                self.store(self.load()).erase()
            self.path.unlink()
        (self.data_dir / "secrets.enc").unlink(missing_ok=True)
        return self.create()


def redacted(profile: Profile, secrets: dict[str, str], store_kind: str) -> dict[str, object]:
    """What `profile show` prints: secrets by name and length only."""
    shown = json.loads(profile.model_dump_json())
    shown["secrets"] = {
        name: (f"<set, {len(secrets[name])} chars, in {store_kind}>" if name in secrets else None)
        for name in SECRET_NAMES
    }
    return shown
