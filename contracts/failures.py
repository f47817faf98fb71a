"""Why a start failed: one typed failure, one line for people, one `fatal` event for hosts.

Every start path raises StartFailure; `groundflare serve` catches it in one place
and turns it into the documented one-line error, exit code and stdout event.
"""

from __future__ import annotations

from enum import StrEnum


class FailureClass(StrEnum):
    """A small set of causes, each with what the user can do about it."""

    MISSING = "missing"
    CONFIG = "config"
    PORT_IN_USE = "port-in-use"
    NOT_READY = "not-ready"
    CRASH_LOOP = "crash-loop"
    DATA_DIR = "data-dir"
    INTERNAL = "internal"

    @property
    def advice(self) -> str:
        return _ADVICE[self]

    @property
    def exit_code(self) -> int:
        """2 for what the user's configuration got wrong (as click's usage errors), else 1."""
        return 2 if self is FailureClass.CONFIG else 1


_ADVICE = {
    FailureClass.MISSING: "install it (make setup) or fix its path",
    FailureClass.CONFIG: "fix the configuration it names",
    FailureClass.PORT_IN_USE: "pick another --port (0 picks a free one)",
    FailureClass.NOT_READY: "it did not become ready in time; see its log",
    FailureClass.CRASH_LOOP: "it keeps exiting; see its log in logs/",
    FailureClass.DATA_DIR: "stop the other stack, or use another --data-dir",
    FailureClass.INTERNAL: "this is a groundflare bug: please report it with logs/groundflare.log",
}


# The reasons of these classes name the fix themselves ("... is in use by pid 12: stop it
# first, or use another --data-dir"); the others get their advice appended.
_REASON_SAYS_WHAT_TO_DO = frozenset(
    {FailureClass.CONFIG, FailureClass.MISSING, FailureClass.PORT_IN_USE, FailureClass.DATA_DIR}
)


class StartFailure(Exception):
    """A component could not start (or stay up); `reason` says what happened."""

    def __init__(
        self, component: str, reason: str, failure: FailureClass, advice: str | None = None
    ) -> None:
        super().__init__(f"{component}: {reason}")
        self.component = component
        self.reason = reason
        self.failure = failure
        self.advice = advice or failure.advice

    def line(self) -> str:
        """The one line for people: `component: reason[ (advice)]`, on one line whatever
        the reason holds."""
        reason = " ".join(self.reason.split())
        if self.failure in _REASON_SAYS_WHAT_TO_DO or self.advice in self.reason:
            return f"{self.component}: {reason}"
        return f"{self.component}: {reason} ({self.advice})"
