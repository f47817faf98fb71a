"""One Secrets Store on disk (`secrets-store/<store_id>.sqlite`): each secret's value
encrypted with AES-256-GCM under a key derived from the install's `secrets_key` (kept in the
OS credential store, or its encrypted fallback: groundflare/secret_store.py), the store and
the secret's name as associated data, so a copy of the data dir alone reveals nothing and a
value cannot be moved to another name.

The shim serves only the ciphertext; the Worker's binding decrypts it with the key, which
workerd gets from its environment like any other secret (workerd_config/assets/
secrets-store.js). `groundflare secrets-store` writes the same file.

`cryptography` is imported where a value is sealed or opened: the shim serves ciphertext
only, and the supervisor, which derives the key on every start, never encrypts.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import apsw

from groundflare.shim.sqlite import open_wal

# The environment variable workerd reads the key from (hex).
KEY_ENV = "GROUNDFLARE_SECRETS_STORE_KEY"
NONCE_BYTES = 12
SCHEMA = """
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    value BLOB NOT NULL,     -- AES-256-GCM ciphertext and tag
    created TEXT NOT NULL,
    modified TEXT NOT NULL
) WITHOUT ROWID;
"""


def derive_key(secrets_key: str) -> bytes:
    """The store key from the install's `secrets_key`: never the install secret itself."""
    return hashlib.sha256(b"groundflare secrets store\0" + secrets_key.encode()).digest()


def associated(store_id: str, name: str) -> bytes:
    return f"{store_id}/{name}".encode()


def open_store(path: Path) -> apsw.Connection:
    conn = open_wal(path)
    conn.set_busy_timeout(5_000)
    conn.execute(SCHEMA)
    return conn


def put(conn: apsw.Connection, key: bytes, store_id: str, name: str, value: str) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), associated(store_id, name))
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    conn.execute(
        "INSERT INTO secrets (name, nonce, value, created, modified) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, value = excluded.value, "
        "modified = excluded.modified",
        (name, nonce, sealed, now, now),
    )


def sealed(conn: apsw.Connection, name: str) -> tuple[bytes, bytes] | None:
    row = conn.execute("SELECT nonce, value FROM secrets WHERE name = ?", (name,)).fetchone()
    return None if row is None else (bytes(row[0]), bytes(row[1]))


def listing(conn: apsw.Connection) -> list[tuple[str, str, str]]:
    return list(conn.execute("SELECT name, created, modified FROM secrets ORDER BY name"))


def delete(conn: apsw.Connection, name: str) -> bool:
    return (
        conn.execute("DELETE FROM secrets WHERE name = ? RETURNING 1", (name,)).fetchone()
        is not None
    )


def reveal(conn: apsw.Connection, key: bytes, store_id: str, name: str) -> str | None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    found = sealed(conn, name)
    if found is None:
        return None
    nonce, value = found
    return AESGCM(key).decrypt(nonce, value, associated(store_id, name)).decode()
