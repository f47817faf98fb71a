"""The Go test sandbox (vm/gosandbox/): a sandbox in the style of a production one, to test
the VM with a contract other than the reference sandbox's. A test fixture and demo, built
on demand with Debian's Go (vm/gosandbox/build.sh), cached by the hash of its sources.
"""

from __future__ import annotations

from pathlib import Path

from groundflare.vm.image import BuildError
from groundflare.vm.image.tools import ToolBuildError, built
from groundflare.vm.resources import SandboxContract, TokenByEnv

SOURCE = Path(__file__).resolve().parent / "gosandbox"
PORT = 4000


def build_go_sandbox(cache: Path) -> Path:
    """The static binary for the current sources (the first build takes ~30 s)."""
    try:
        return built(SOURCE / "build.sh", [SOURCE], cache, "gosandbox")
    except ToolBuildError as exc:
        raise BuildError(str(exc)) from exc


def go_contract(binary: Path) -> SandboxContract:
    """The contract it keeps: its own port, the token in an environment variable, a bearer
    token in Authorization, a WebSocket shell at /api/pty."""
    return SandboxContract(
        path=binary,
        args=["--port", str(PORT), "--token-env", "SANDBOX_INTERNAL_TOKEN"],
        port=PORT,
        token=TokenByEnv(name="SANDBOX_INTERNAL_TOKEN"),
        header="Authorization",
        scheme="Bearer",
        health_path="/health",
        pty_path="/api/pty",
    )
