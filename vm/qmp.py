"""Just enough QMP to stop QEMU: `quit` exits in ~6 ms (shared/specs/microvm-notes.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path


async def command(socket_path: Path, execute: str, timeout: float = 2.0) -> dict[str, object]:
    """Negotiate capabilities, run one command, return its answer ({} if QEMU hung up first)."""

    async def talk() -> dict[str, object]:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
        try:
            await reader.readline()  # greeting
            for name in ("qmp_capabilities", execute):
                writer.write(json.dumps({"execute": name}).encode() + b"\n")
                await writer.drain()
                while True:
                    line = await reader.readline()
                    if not line:
                        return {}
                    answer = json.loads(line)
                    if "return" in answer or "error" in answer:
                        break
            return answer
        finally:
            writer.close()

    return await asyncio.wait_for(talk(), timeout)
