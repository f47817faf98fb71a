"""The host contract on every OS (contracts/host.py): the macOS and Windows code paths run
here with `sys.platform` switched, and the sidecar's stdin EOF stops a real stack.

What cannot run here (a real Windows console group receiving CTRL_BREAK, msvcrt's byte
locks, macOS's file-descriptor ceiling) is exercised against stand-ins of the OS calls; the
stack itself runs on Linux only (docs/desktop.md says what has not run elsewhere).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest

from groundflare.contracts import host
from groundflare.lock import DataDirBusy, DataDirLock
from tests.stack import REPO, alive, eventually, next_event, runtime

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"
SUPERVISOR_MODULES = (
    "groundflare.cli",
    "groundflare.commands.serve",
    "groundflare.stack.lifecycle",
    "groundflare.stack.boot",
    "groundflare.children",
    "groundflare.lock",
    "groundflare.shim.__main__",
    "groundflare.proxy.__main__",
    "groundflare.bundle.entry",
)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[object, ...]]]:
    """sys.platform is win32; msvcrt, os.kill and taskkill are stand-ins that record calls."""
    calls: list[tuple[str, tuple[object, ...]]] = []
    held: set[int] = set()

    def locking(fd: int, mode: int, nbytes: int) -> None:
        calls.append(("locking", (mode, os.lseek(fd, 0, os.SEEK_CUR), nbytes)))
        inode = os.fstat(fd).st_ino
        if inode in held:
            raise OSError(36, "Resource deadlock avoided")
        held.add(inode)

    msvcrt = types.SimpleNamespace(LK_NBLCK=2, LK_LOCK=1, locking=locking)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "msvcrt", msvcrt)
    monkeypatch.setattr(os, "kill", lambda pid, sig: calls.append(("kill", (pid, sig))))
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: calls.append(("run", tuple(argv))))
    return calls


def test_no_supervisor_or_child_module_needs_a_posix_only_module_to_import():
    """As on Windows: fcntl, resource and termios do not exist; importing every entry point of
    the supervisor and its children still works."""
    code = (
        "import sys\n"
        "for name in ('fcntl', 'resource', 'termios', 'grp', 'pwd'):\n"
        "    sys.modules[name] = None\n"
        f"for module in {SUPERVISOR_MODULES!r}:\n"
        "    __import__(module)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_windows_children_start_in_a_new_process_group_without_preexec(windows):
    assert host.child_start_options() == {"creationflags": host.CREATE_NEW_PROCESS_GROUP}


def test_windows_stop_is_ctrl_break_to_the_group_and_kill_walks_the_tree(windows):
    host.ask_group_to_stop(4242)
    host.kill_group(4242)
    assert windows == [
        ("kill", (4242, host.CTRL_BREAK_EVENT)),
        ("run", ("taskkill", "/T", "/F", "/PID", "4242")),
    ]


def test_windows_stop_signals_are_ctrl_c_and_ctrl_break(windows):
    assert host.stop_signals() == (signal.SIGINT, getattr(signal, "SIGBREAK", host.SIGBREAK))


def test_windows_stop_handlers_hand_the_signal_to_the_loop_and_are_undone():
    """The handler a Windows process installs (signal.signal, not the loop's) reaches the
    loop's thread; the undo restores what was there. Shown with SIGINT, which exists here."""

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        previous = signal.getsignal(signal.SIGINT)
        original = sys.platform
        sys.platform = "win32"
        try:
            undo = host.on_stop_signals(loop, stopped.set, (signal.SIGINT,))
        finally:
            sys.platform = original
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(stopped.wait(), 10)
        undo()
        return signal.getsignal(signal.SIGINT) == previous

    assert asyncio.run(scenario())


def test_windows_data_dir_lock_is_a_byte_lock_past_the_pid_and_a_second_one_fails(
    windows, tmp_path: Path
):
    lock_file = tmp_path / "supervisor.lock"
    first = DataDirLock(lock_file)
    first.acquire()
    with pytest.raises(DataDirBusy) as busy:
        DataDirLock(lock_file).acquire()
    # The second instance still reads the owner: the locked byte lies past the pid.
    assert busy.value.owner == os.getpid()
    assert windows[0] == ("locking", (2, host.WINDOWS_LOCK_OFFSET, 1))
    first.release()


def test_windows_raises_no_file_limit(windows):
    host.raise_open_file_limit()  # no `resource` module is touched on Windows


def test_macos_children_get_their_own_session_but_no_pdeathsig(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert host.child_start_options() == {"start_new_session": True}


def test_linux_children_die_with_the_parent_unless_a_test_says_otherwise():
    assert host.child_start_options()["preexec_fn"] is not None
    assert "preexec_fn" not in host.child_start_options(die_with_parent=False)


def test_the_supervisor_stops_cleanly_when_its_stdin_reaches_the_end(tmp_path: Path):
    """What a host's death looks like on macOS and Windows: the pipe it held closes."""
    data = tmp_path / "data"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "groundflare",
            "serve",
            "-c",
            str(EXAMPLE),
            "--port",
            "0",
            "--data-dir",
            str(data),
            "--exit-on-stdin-eof",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "GROUNDFLARE_TEST_NO_PDEATHSIG": "1"},
    )
    stack = types.SimpleNamespace(process=process)
    try:
        assert next_event(stack, 60)["event"] == "ready"  # type: ignore[arg-type]
        children = [c["pid"] for c in runtime(data)["components"].values()]
        assert process.stdin is not None
        process.stdin.close()
        assert next_event(stack, 30) == {"event": "stopped"}  # type: ignore[arg-type]
        assert process.wait(30) == 0
        eventually(lambda: not any(alive(pid) for pid in children), what="children gone")
    finally:
        if process.poll() is None:
            process.kill()


def test_without_the_option_a_closed_stdin_changes_nothing(tmp_path: Path):
    data = tmp_path / "data"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "groundflare",
            "serve",
            "-c",
            str(EXAMPLE),
            "--port",
            "0",
            "--data-dir",
            str(data),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    stack = types.SimpleNamespace(process=process)
    try:
        assert next_event(stack, 60)["event"] == "ready"  # type: ignore[arg-type]
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        assert next_event(stack, 30) == {"event": "stopped"}  # type: ignore[arg-type]
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
