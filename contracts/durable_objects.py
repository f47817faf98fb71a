"""How the v4 API names a Durable Object namespace. workerd keeps a class's objects in
`do/<worker folder>/<unique key>/`; the namespace's id is derived from that place, so the
rendered door (which tells Python each binding's namespace) and the shim (which serves the
routes from the folders) name it alike."""

from __future__ import annotations

import hashlib


def namespace_id(worker_folder: str, unique_key: str) -> str:
    return hashlib.sha256(f"{worker_folder}/{unique_key}".encode()).hexdigest()[:32]
