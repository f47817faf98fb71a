"""Per-install secrets: the OS credential store when there is one, else an encrypted file.

The fallback file (`<data dir>/secrets.enc`, 0600) is AES-256-GCM encrypted
with a key kept elsewhere (`<user config dir>/groundflare/keys/<install id>.key`,
0600), so a copy of the data dir alone (a backup, a bug report) reveals nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import secrets
import sys
from importlib import metadata
from pathlib import Path
from typing import Protocol

import platformdirs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from groundflare.paths import APP_NAME, write_private

log = logging.getLogger("groundflare")
NONCE_BYTES = 12


class SecretStoreError(Exception):
    """Secrets exist but cannot be read; the message says what to do."""


class SecretStore(Protocol):
    kind: str

    def read(self) -> dict[str, str]: ...

    def write(self, values: dict[str, str]) -> None: ...

    def erase(self) -> None: ...


def key_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "keys"


class EncryptedFileStore:
    kind = "encrypted-file"

    def __init__(self, path: Path, key_path: Path, install_id: str) -> None:
        self.path = path
        self.key_path = key_path
        self._aad = install_id.encode("utf-8")

    def _key(self, create: bool) -> bytes:
        if self.key_path.exists():
            key = self.key_path.read_bytes()
            if len(key) != 32:
                raise SecretStoreError(f"{self.key_path} is not a 32-byte key")
            return key
        if not create:
            raise SecretStoreError(
                f"the key for {self.path} ({self.key_path}) is missing: the secrets cannot be "
                "decrypted; run `groundflare profile reset` to create new ones"
            )
        self.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = AESGCM.generate_key(bit_length=256)
        write_private(self.key_path, key)
        return key

    def read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        blob = self.path.read_bytes()
        try:
            plain = AESGCM(self._key(create=False)).decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], self._aad
            )
        except InvalidTag as exc:
            raise SecretStoreError(
                f"{self.path} does not decrypt with {self.key_path}: run "
                "`groundflare profile reset` to create new secrets"
            ) from exc
        return json.loads(plain)

    def write(self, values: dict[str, str]) -> None:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._key(create=True)).encrypt(
            nonce, json.dumps(values).encode("utf-8"), self._aad
        )
        write_private(self.path, nonce + sealed)

    def erase(self) -> None:
        self.path.unlink(missing_ok=True)
        self.key_path.unlink(missing_ok=True)


class KeyringStore:
    """The OS credential store (Keychain, Credential Manager, Secret Service)."""

    kind = "keyring"

    def __init__(self, install_id: str) -> None:
        import keyring

        self._keyring = keyring
        self._service = f"{APP_NAME}:{install_id}"

    def read(self) -> dict[str, str]:
        raw = self._keyring.get_password(self._service, "secrets")
        return json.loads(raw) if raw else {}

    def write(self, values: dict[str, str]) -> None:
        self._keyring.set_password(self._service, "secrets", json.dumps(values))

    def erase(self) -> None:
        import keyring.errors

        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            self._keyring.delete_password(self._service, "secrets")


def no_keyring_possible() -> bool:
    """True when keyring would find no backend, known without asking it: asking imports and
    probes every backend (80 ms here, on every start). On Linux and the BSDs, keyring's own
    backends all need a D-Bus session bus (SecretService, and KWallet and libsecret, whose
    bindings are not even installed); so with no bus address, no backend named by
    $PYTHON_KEYRING_BACKEND or a keyringrc.cfg, and no other package's backend, there is none."""
    if sys.platform in ("darwin", "win32") or os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return False
    if os.environ.get("PYTHON_KEYRING_BACKEND") or any(
        importlib.util.find_spec(module) is not None for module in ("dbus", "gi")
    ):
        return False
    config = Path(platformdirs.user_config_dir("python_keyring", appauthor=False))
    if (config / "keyringrc.cfg").exists():
        return False
    backends = metadata.entry_points(group="keyring.backends")
    return all(entry.dist is not None and entry.dist.name == "keyring" for entry in backends)


def keyring_usable() -> bool:
    """A real backend, not keyring's 'fail' or 'null' placeholders."""
    if no_keyring_possible():
        return False
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return False
    backend = keyring.get_keyring()
    return not isinstance(backend, fail.Keyring) and backend.priority > 0


def open_store(data_dir: Path, install_id: str, prefer_keyring: bool = True) -> SecretStore:
    if prefer_keyring and keyring_usable():
        return KeyringStore(install_id)
    return EncryptedFileStore(data_dir / "secrets.enc", key_dir() / f"{install_id}.key", install_id)


def new_secret() -> str:
    """32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)
