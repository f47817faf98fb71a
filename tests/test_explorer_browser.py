"""The explorer in real browsers: Debian's headless Chromium and Firefox ESR, driven by
Playwright through `executable_path` (never a browser of Playwright's own; Firefox through
WebDriver BiDi, Playwright's `moz-firefox` channel). Every test runs in each browser, on a
stack of its own; each main page's screenshot is saved as a test artifact
(docs/explorer.md)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright

from tests.explorer import PROBE_D1, PROBE_KV, PROBE_R2, login_url, probe_stack
from tests.stack import REPO, RunningStack, request

CHROMIUM = Path(os.environ.get("GROUNDFLARE_CHROMIUM", "/usr/bin/chromium"))
FIREFOX = Path(os.environ.get("GROUNDFLARE_FIREFOX", "/usr/bin/firefox-esr"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = (
    Path(os.environ.get("GROUNDFLARE_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    / "explorer"
)
UPLOAD_BYTES = 100 * 1024 * 1024


def launch(playwright: Playwright, name: str, profile: Path) -> BrowserContext:
    """The named browser at 1280x800, headless, with a profile of its own."""
    executable = CHROMIUM if name == "chromium" else FIREFOX
    assert executable.exists(), (
        f"{executable} is missing: scripts/browser-host.sh installs Debian's chromium and "
        "firefox-esr (make test runs it)"
    )
    common = {
        "executable_path": str(executable),
        "headless": True,
        "viewport": {"width": 1280, "height": 800},
        "accept_downloads": True,
    }
    if name == "chromium":
        return playwright.chromium.launch_persistent_context(
            str(profile), args=CHROMIUM_FLAGS, **common
        )
    return playwright.firefox.launch_persistent_context(
        str(profile), channel="moz-firefox", **common
    )


@pytest.fixture(scope="module", params=["chromium", "firefox"])
def browser_context(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """Each browser in turn; a module's stack fixture asks for it, so each gets a fresh one."""
    name = str(request.param)
    with sync_playwright() as playwright:
        context = launch(playwright, name, tmp_path_factory.mktemp(f"{name}-profile"))
        yield context
        context.close()


@pytest.fixture(scope="module")
def explorer_stack(
    browser_context: BrowserContext, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """The probe's stack, a fresh one for each browser (the tests edit its data)."""
    with probe_stack(tmp_path_factory) as stack:
        yield stack


def signed_in_tab(browser_context: BrowserContext, stack: RunningStack) -> Page:
    """A tab logged in through the one-time link; every confirmation is accepted."""
    tab = browser_context.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())
    tab.set_default_timeout(30_000)
    tab.goto(login_url(stack))
    return tab


@pytest.fixture(scope="module")
def page(browser_context: BrowserContext, explorer_stack: RunningStack) -> Page:
    return signed_in_tab(browser_context, explorer_stack)


def api(stack: RunningStack) -> str:
    return str(stack.ready["api"])


def screenshot(page: Page, name: str) -> None:
    """Chromium's are the ones docs/explorer.md shows; Firefox's go in a folder beside them."""
    folder = ARTIFACTS
    if "Firefox/" in page.evaluate("navigator.userAgent"):
        folder = ARTIFACTS / "firefox"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def test_logging_in_through_the_one_time_link(page: Page, explorer_stack: RunningStack) -> None:
    expect(page).to_have_url(f"{api(explorer_stack)}/explorer/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("link", name="explorer-probe")).to_be_visible()
    # Keyboard: the skip link is the first stop and leads to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    screenshot(page, "overview")


def test_d1_tables_rows_edits_and_a_sql_query(page: Page, explorer_stack: RunningStack) -> None:
    assert request(f"{explorer_stack.url}/hello?name=table")[0] == 200
    page.goto(f"{api(explorer_stack)}/explorer/d1")
    page.get_by_role("link", name="shop").click()
    expect(page.get_by_role("heading", name="shop")).to_be_visible()
    screenshot(page, "d1-database")
    page.get_by_role("link", name="greetings").click()
    insert = page.locator("section", has=page.get_by_role("heading", name="Insert a row"))
    insert.get_by_label("name").fill("grace")
    insert.get_by_role("button", name="Insert row").click()
    expect(page.get_by_text("row inserted")).to_be_visible()
    expect(page.get_by_role("cell", name="grace")).to_be_visible()
    page.get_by_text("Edit row 1").click()
    page.locator('input[name="col.name"]').first.fill("hopper")
    page.get_by_role("button", name="Save row 1").click()
    expect(page.get_by_text("row 1 updated")).to_be_visible()
    expect(page.get_by_role("cell", name="hopper")).to_be_visible()
    screenshot(page, "d1-table")
    page.get_by_role("button", name="Delete row 1").click()
    expect(page.get_by_text("row 1 deleted")).to_be_visible()
    expect(page.get_by_role("cell", name="No rows.")).to_be_visible()
    page.goto(f"{api(explorer_stack)}/explorer/d1/{PROBE_D1}/console")
    page.get_by_label(re.compile("^SQL")).fill("SELECT 6 * 7 AS answer, 'd1' AS product")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("cell", name="42")).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"Statement 1: rows_read \d+ rows_written 0"))
    ).to_be_visible()
    expect(page.get_by_role("link", name="SELECT 6 * 7 AS answer")).to_be_visible()
    screenshot(page, "d1-console")


def test_a_pending_d1_migration_is_listed_and_applied_once(
    page: Page, explorer_stack: RunningStack
) -> None:
    page.goto(f"{api(explorer_stack)}/explorer/d1/{PROBE_D1}")
    migrations = page.locator("section", has=page.get_by_role("heading", name="Migrations"))
    row = migrations.get_by_role("row", name=re.compile("0001_create_notes.sql"))
    expect(row.get_by_role("cell")).to_have_text("pending")
    migrations.get_by_role("button", name="Apply 1 pending migration(s)").click()
    expect(page.get_by_text("1 migration(s) applied: 0001_create_notes.sql")).to_be_visible()
    # Recorded in wrangler's tracking table, so nothing is left to apply.
    expect(row.get_by_role("cell")).not_to_have_text("pending")
    expect(migrations.get_by_role("button")).to_have_count(0)
    page.get_by_role("link", name="notes", exact=True).click()
    expect(page.get_by_role("cell", name="written by a migration")).to_be_visible()


def test_kv_keys_values_edits_and_a_bulk_delete(page: Page, explorer_stack: RunningStack) -> None:
    base = f"{api(explorer_stack)}/explorer/kv/{PROBE_KV}"
    page.goto(base)
    put = page.locator("section", has=page.get_by_role("heading", name="Put a key"))
    put.get_by_label("Key").fill("greeting")
    put.get_by_label("Value").fill('{"hello": "world"}')
    put.get_by_label("Metadata (JSON, optional)").fill('{"by": "explorer"}')
    put.get_by_role("button", name="Put").click()
    expect(page.get_by_text("greeting saved")).to_be_visible()
    expect(page.locator("pre.value-json")).to_contain_text('"hello": "world"')
    expect(page.get_by_text('{"by":"explorer"}')).to_be_visible()
    screenshot(page, "kv-value")
    page.get_by_label("Value").fill("plain text now")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("pre.value-text")).to_have_text("plain text now")
    assert request(f"{explorer_stack.url}/kv?key=greeting")[1] == b'{"value":"plain text now"}'
    page.get_by_role("button", name="Delete greeting").click()
    expect(page.get_by_text("greeting deleted")).to_be_visible()
    for key in ("tmp/a", "tmp/b"):
        page.goto(base)
        put.get_by_label("Key").fill(key)
        put.get_by_role("button", name="Put").click()
        # The put's own navigation ends before the next one begins.
        expect(page.get_by_text(f"{key} saved")).to_be_visible()
    page.goto(f"{base}?prefix=tmp/")
    screenshot(page, "kv-keys")
    page.get_by_role("button", name="Review the keys to delete").click()
    expect(page.get_by_role("heading", name="Delete 2 keys?")).to_be_visible()
    page.get_by_role("button", name="Delete 2 keys").click()
    expect(page.get_by_text("2 keys under 'tmp/' deleted")).to_be_visible()
    expect(page.get_by_role("cell", name="No keys.")).to_be_visible()


def test_r2_a_100_mib_upload_with_progress_downloads_back_byte_equal(
    page: Page, explorer_stack: RunningStack, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(UPLOAD_BYTES // (1024 * 1024)):
            chunk = os.urandom(1024 * 1024)
            digest.update(chunk)
            out.write(chunk)
    page.goto(f"{api(explorer_stack)}/explorer/r2/{PROBE_R2}?prefix=uploads/")
    page.get_by_label("Files", exact=True).set_input_files(str(source))
    page.get_by_role("button", name="Upload", exact=True).click()
    progress = page.locator(".progress-item progress")
    expect(progress).to_be_visible()
    expect(page.get_by_text("1 file(s) uploaded")).to_be_visible(timeout=120_000)
    page.get_by_role("link", name="big.bin").click()
    expect(page.get_by_text(f"{UPLOAD_BYTES} bytes")).to_be_visible()
    screenshot(page, "r2-object")
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("link", name="Download").click()
    saved = tmp_path / "back.bin"
    download.value.save_as(saved)
    back = hashlib.sha256()
    with saved.open("rb") as data:
        while chunk := data.read(1024 * 1024):
            back.update(chunk)
    assert back.hexdigest() == digest.hexdigest()
    page.goto(f"{api(explorer_stack)}/explorer/r2/{PROBE_R2}")
    expect(page.get_by_role("link", name="uploads/")).to_be_visible()
    screenshot(page, "r2-bucket")


def test_durable_object_storage_browse_and_edit(page: Page, explorer_stack: RunningStack) -> None:
    counter = f"{explorer_stack.url}/count/browser"
    assert request(counter, b"", "POST")[1] == b'{"count":1}'
    page.goto(f"{api(explorer_stack)}/explorer/do")
    page.get_by_role("link", name="Counter").click()
    page.locator("table a").first.click()
    page.get_by_role("link", name="hits").click()
    expect(page.get_by_role("heading", name="hits (first 50 rows)")).to_be_visible()
    page.get_by_label("SQL against this object's storage").fill(
        "INSERT INTO hits (at) VALUES ('written by the explorer')"
    )
    page.get_by_label(re.compile("Allow writes")).check()
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text("changes 1")).to_be_visible()
    screenshot(page, "durable-object")
    # The object sees the row the explorer wrote.
    assert request(counter, b"", "POST")[1] == b'{"count":3}'


def test_the_log_shows_a_request_as_it_happens_with_its_d1_span_and_console_line(
    page: Page, explorer_stack: RunningStack
) -> None:
    page.goto(f"{api(explorer_stack)}/explorer/log")
    expect(page.get_by_text("Live tail: on")).to_be_visible()
    assert request(f"{explorer_stack.url}/hello?name=live")[0] == 200
    row = page.get_by_role("link", name="/hello?name=live")
    expect(row).to_be_visible()
    screenshot(page, "request-log")
    row.click()
    expect(page.get_by_role("rowheader", name="d1.query")).to_be_visible()
    expect(page.get_by_text("SELECT ?1 AS greeting")).to_be_visible()
    expect(page.get_by_text("hello, live")).to_be_visible()
    screenshot(page, "invocation")


def test_running_a_cron_now_shows_its_invocation(page: Page, explorer_stack: RunningStack) -> None:
    page.goto(f"{api(explorer_stack)}/explorer/cron")
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_text("ran explorer-probe's */10 * * * *: ok")).to_be_visible()
    run = page.locator("section.cron li a").first
    expect(run).to_contain_text("ok")
    screenshot(page, "cron")
    run.click()
    expect(page.get_by_role("heading", name="scheduled */10 * * * *")).to_be_visible()
    expect(page.get_by_text("cron */10 * * * * ran")).to_be_visible()
    expect(page.get_by_role("rowheader", name="kv.put")).to_be_visible()


def test_queues_take_a_test_message_and_sent_email_is_shown(
    page: Page, explorer_stack: RunningStack
) -> None:
    page.goto(f"{api(explorer_stack)}/explorer/queues")
    row = page.get_by_role("row", name=re.compile("explorer-jobs"))
    expect(row.get_by_role("cell").nth(0)).to_have_text("0")
    row.get_by_role("button", name="Send").click()
    expect(page.get_by_text("a message was sent to")).to_be_visible()
    expect(
        page.get_by_role("row", name=re.compile("explorer-jobs")).get_by_role("cell").nth(0)
    ).to_have_text("1")
    screenshot(page, "queues")
    assert request(f"{explorer_stack.url}/mail", b"", "POST")[1] == b'{"sent":true}'
    page.goto(f"{api(explorer_stack)}/explorer/email")
    page.get_by_role("row", name=re.compile("ops@example.com")).get_by_role("link").click()
    expect(page.get_by_text("Sent by the explorer's probe.", exact=True)).to_be_visible()
    expect(page.get_by_text("explorer probe", exact=True)).to_be_visible()
    screenshot(page, "email")
