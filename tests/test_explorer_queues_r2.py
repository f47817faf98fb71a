"""The explorer's queue and multipart views in real browsers (Debian's headless Chromium and
Firefox ESR, as tests/test_explorer_browser.py drives them), on a stack of
tests/workers/explorer-dlq: a message its consumer fails goes to the dead-letter queue and
the explorer puts it back; a multipart upload a Worker left open is listed with its parts
and aborted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.stack import WORKERS, RunningStack, advance_clock, eventually, request, start_stack
from tests.test_explorer_browser import browser_context, screenshot, signed_in_tab

__all__ = ["browser_context"]

DLQ_WORKER = WORKERS / "explorer-dlq" / "wrangler.toml"
# The consumer's max_batch_timeout: moving the clock this far releases a waiting message.
BATCH_TIMEOUT = 60


@pytest.fixture(scope="module")
def dlq_stack(
    browser_context: BrowserContext, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """A stack for each browser: the tests walk a message through the queues from the start."""
    data = tmp_path_factory.mktemp("explorer-dlq") / "data"
    stack = start_stack([DLQ_WORKER], data, env={"GROUNDFLARE_TEST_CLOCK": "1"})
    yield stack
    assert stack.stop() == 0


@pytest.fixture(scope="module")
def page(browser_context: BrowserContext, dlq_stack: RunningStack) -> Page:
    return signed_in_tab(browser_context, dlq_stack)


def explorer(stack: RunningStack, rest: str) -> str:
    return f"{stack.ready['api']}/explorer{rest}"


def deliveries(stack: RunningStack) -> list[dict[str, object]]:
    status, body = request(f"{stack.url}/seen")
    assert status == 200, body
    return list(json.loads(body))


def counts(page: Page, queue: str) -> list[str]:
    """The queue's row on the queues page: waiting, in flight, dead-lettered."""
    row = page.get_by_role("row", name=re.compile(f"^{queue} "))
    return [row.get_by_role("cell").nth(i).inner_text() for i in range(3)]


def test_a_failed_message_is_dead_lettered_and_retried_onto_its_queue(
    page: Page, dlq_stack: RunningStack
) -> None:
    assert request(f"{dlq_stack.url}/send?body=resize", b"", "POST")[0] == 200
    page.goto(explorer(dlq_stack, "/queues"))
    assert counts(page, "explorer-tasks") == ["1", "0", "0"]
    page.get_by_role("link", name="explorer-tasks", exact=True).click()
    expect(page.get_by_role("cell", name="waiting")).to_be_visible()
    expect(page.locator("pre.value-json")).to_contain_text('"task": "resize"')

    advance_clock(dlq_stack, BATCH_TIMEOUT)
    (first,) = eventually(lambda: deliveries(dlq_stack) or None, what="the first delivery")
    assert first["attempts"] == 1

    def dead_lettered() -> bool:
        page.goto(explorer(dlq_stack, "/queues"))
        return counts(page, "explorer-tasks") == ["0", "0", "1 in explorer-tasks-dlq"]

    eventually(dead_lettered, what="the message dead-lettered")
    screenshot(page, "queues-dead-lettered")
    page.get_by_role("link", name="explorer-tasks-dlq").first.click()
    expect(page.get_by_role("heading", name="explorer-tasks-dlq")).to_be_visible()
    row = page.get_by_role("row", name=re.compile(str(first["id"])))
    expect(row.get_by_role("cell").nth(1)).to_have_text("0")  # attempts start again there
    expect(row.get_by_role("link", name="explorer-tasks")).to_be_visible()
    screenshot(page, "queue-dead-letters")
    row.get_by_role("button", name=re.compile("^Retry")).click()
    expect(page.get_by_text("1 message(s) put back on their queue")).to_be_visible()
    expect(page.get_by_role("cell", name="No messages.")).to_be_visible()

    page.goto(explorer(dlq_stack, "/queues/explorer-tasks"))
    back = page.get_by_role("row", name=re.compile(str(first["id"])))
    expect(back.get_by_role("cell").nth(0)).to_have_text("waiting")
    expect(back.get_by_role("cell").nth(1)).to_have_text("0")
    # Consumed again, as a fresh message: its attempts start at 1 again.
    advance_clock(dlq_stack, BATCH_TIMEOUT)
    again = eventually(
        lambda: deliveries(dlq_stack) if len(deliveries(dlq_stack)) == 2 else None,
        what="the second delivery",
    )
    assert [d["id"] for d in again] == [first["id"]] * 2
    assert [d["attempts"] for d in again] == [1, 1]


def test_the_queue_pages_refuse_a_retry_without_the_csrf_token(
    page: Page, dlq_stack: RunningStack
) -> None:
    status = page.request.post(
        explorer(dlq_stack, "/queues/explorer-tasks-dlq/requeue"), form={"message_id": "x"}
    ).status
    assert status == 403


def test_an_open_multipart_upload_is_listed_with_its_parts_and_aborted(
    page: Page, dlq_stack: RunningStack
) -> None:
    status, body = request(f"{dlq_stack.url}/multipart?key=videos/cut.mp4", b"", "POST")
    assert status == 200, body
    upload_id = json.loads(body)["uploadId"]
    page.goto(explorer(dlq_stack, "/r2/explorer-uploads?prefix=videos/"))
    row = page.get_by_role("row", name="videos/cut.mp4")
    expect(row.get_by_role("cell").nth(0)).to_have_text(upload_id)
    expect(row.get_by_role("cell").nth(2)).to_have_text("2")
    expect(row.get_by_role("cell").nth(3)).to_have_text("4000 bytes")
    screenshot(page, "r2-multipart")
    row.get_by_role("button", name=re.compile("^Abort")).click()
    expect(page.get_by_text("the upload of videos/cut.mp4 was aborted")).to_be_visible()
    expect(page.get_by_role("row", name="videos/cut.mp4")).to_have_count(0)
    # The binding sees it aborted too: another part is refused.
    status, body = request(
        f"{dlq_stack.url}/part?key=videos/cut.mp4&upload={upload_id}", b"", "POST"
    )
    assert status == 200 and "multipart upload does not exist" in json.loads(body)["error"]
