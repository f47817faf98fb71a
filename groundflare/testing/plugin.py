"""The pytest plugin (entry point `pytest11`; docs/testing.md): tests against a real
`groundflare serve` of the project's own wrangler configs, with storage reset before each
test and the Workers' output shown when one fails.

It does nothing until a test asks for one of its fixtures. Configure it with the ini
setting `groundflare_config` (one or more wrangler files, relative to the ini file), the
option `--groundflare-config` (repeatable), or a test's marker:
`@pytest.mark.groundflare(config="other/wrangler.toml", env=None, seed=function)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from groundflare.testing.clients import WorkerClient, Workers
    from groundflare.testing.stack import SessionStacks, StackKey, TestStack

CONFIG_INI = "groundflare_config"
ENV_INI = "groundflare_env"
MARKER = "groundflare"
STACKS: pytest.StashKey[SessionStacks] = pytest.StashKey()
ACTIVE: pytest.StashKey[TestStack] = pytest.StashKey()
DEFAULT_SEED = "groundflare_seed"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("groundflare", "groundflare: tests against real Workers")
    group.addoption(
        "--groundflare-config",
        action="append",
        metavar="PATH",
        help="wrangler.toml or wrangler.jsonc of a Worker the tests run against (repeat for "
        f"several Workers); replaces the {CONFIG_INI} ini setting.",
    )
    group.addoption(
        "--groundflare-env",
        metavar="NAME",
        help=f"Use the [env.NAME] section of each config; replaces the {ENV_INI} ini setting.",
    )
    parser.addini(
        CONFIG_INI,
        type="args",
        help="wrangler configs of the Workers under test, relative to the ini file.",
    )
    parser.addini(ENV_INI, default="", help="The [env.NAME] section to use, if any.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(config=PATH or [PATHS], env=NAME, seed=CALLABLE): run the test against "
        "the stack of these configs (started once per session), reset before it to what "
        "seed(stack) wrote.",
    )


def _stacks(config: pytest.Config) -> SessionStacks:
    """The process's stacks; made (and httpx imported) only when a test needs one."""
    if STACKS not in config.stash:
        from groundflare.testing.stack import SessionStacks

        config.stash[STACKS] = SessionStacks()
    return config.stash[STACKS]


def pytest_unconfigure(config: pytest.Config) -> None:
    stacks = config.stash.get(STACKS, None)
    if stacks is not None:
        stacks.close()


def _base(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath is not None else config.rootpath


def _default_key(config: pytest.Config) -> StackKey:
    from groundflare.testing.stack import StackKey

    option = config.getoption("groundflare_config")
    paths = [Path(p).resolve() for p in option] if option else []
    if not paths:
        paths = [(_base(config) / p).resolve() for p in config.getini(CONFIG_INI)]
    if not paths:
        raise pytest.UsageError(
            f"groundflare: no Worker configured: set {CONFIG_INI} in the pytest settings, pass "
            f"--groundflare-config, or mark the test with @pytest.mark.{MARKER}(config=...)"
        )
    env = config.getoption("groundflare_env") or config.getini(ENV_INI) or None
    return StackKey(tuple(paths), env)


def _marker_key(config: pytest.Config, marker: pytest.Mark, path: Path) -> StackKey:
    """A marker's configs are relative to the test's file."""
    from groundflare.testing.stack import StackKey

    configs = marker.kwargs.get("config") or (marker.args[0] if marker.args else None)
    if configs is None:
        default = _default_key(config)
        return StackKey(default.configs, marker.kwargs.get("env", default.env))
    listed = [configs] if isinstance(configs, str | Path) else list(configs)
    return StackKey(tuple((path.parent / p).resolve() for p in listed), marker.kwargs.get("env"))


@pytest.fixture(scope="session")
def groundflare_stack(request: pytest.FixtureRequest) -> TestStack:
    """The session's stack of the configured Workers, started once (not reset: use the
    `groundflare` fixture for that)."""
    return _stacks(request.config).stack(_default_key(request.config))


@pytest.fixture(scope="session")
def groundflare_seed(groundflare_stack: TestStack) -> Any:
    """Override it to write what every test starts from, once per session:

    @pytest.fixture(scope="session")
    def groundflare_seed(groundflare_stack):
        groundflare_stack.d1("DB").migrate(Path("migrations"))
        groundflare_stack.kv("KV").put_json_file(Path("seed/kv.json"))
    """
    return None


@pytest.fixture
def groundflare(request: pytest.FixtureRequest) -> Iterator[TestStack]:
    """The stack, with all its storage (D1, KV, R2, Durable Objects and every kind that
    snapshots) reset to the seed before the test; its Workers' output and binding calls
    recorded (`groundflare.logs`) and shown if the test fails."""
    stacks = _stacks(request.config)
    marker = request.node.get_closest_marker(MARKER)
    seed: Callable[[], Any]
    if marker is None:
        key = _default_key(request.config)
        seed_id: Any = DEFAULT_SEED
        seed = lambda: request.getfixturevalue(DEFAULT_SEED)  # noqa: E731
    else:
        key = _marker_key(request.config, marker, request.path)
        chosen = marker.kwargs.get("seed")
        seed_id = chosen
        seed = (lambda: chosen(stacks.stack(key))) if chosen else (lambda: None)
    snapshot = stacks.snapshot(key, seed_id, seed)
    stack = stacks.stack(key)
    stack.restore(snapshot)
    stack.logs.start()
    request.node.stash[ACTIVE] = stack
    yield stack
    stack.logs.stop()
    del request.node.stash[ACTIVE]


@pytest.fixture
def worker(groundflare: TestStack) -> WorkerClient:
    """An httpx client bound to the first Worker (storage reset as for `groundflare`)."""
    return groundflare.worker()


@pytest.fixture
def workers(groundflare: TestStack) -> Workers:
    """`workers["name"]`: a client bound to each Worker of the stack."""
    return groundflare.clients


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    stack = item.stash.get(ACTIVE, None)
    if stack is None or not report.failed or report.when != "call":
        return
    try:
        sections = stack.logs.report()
    except Exception as exc:  # a dead stack must not hide the test's own failure
        sections = [("groundflare", f"the stack's logs cannot be read: {exc}")]
    report.sections.extend(sections)
