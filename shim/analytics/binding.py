"""What workerd's `analyticsEngine` binding posts for one `writeDataPoint()`: the point as
JSON, its dataset in a header of the dataset's service (shim/analytics/kind.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from groundflare.shim.analytics.kind import DATASET_HEADER
from groundflare.shim.analytics.store import MEMBERS, AnalyticsStore, Point
from groundflare.shim.http import call_body, json_response
from groundflare.shim.messages import Request, Response


class Event(BaseModel):
    """What workerd posts for one writeDataPoint(): blobs and the index as byte arrays."""

    model_config = ConfigDict(extra="allow")
    index1: list[int] = []

    def point(self, dataset: str) -> Point:
        extra = self.model_extra or {}
        blobs = [extra.get(f"blob{i}") for i in range(1, MEMBERS + 1)]
        while blobs and blobs[-1] is None:
            blobs.pop()
        doubles = [float(extra.get(f"double{i}", 0)) for i in range(1, MEMBERS + 1)]
        return Point(
            dataset=dataset,
            index1=_text(self.index1) or "",
            blobs=[_text(blob) for blob in blobs],
            doubles=doubles,
        )


def _text(value: Any) -> str | None:
    return None if value is None else bytes(value).decode("utf-8", "replace")


async def handle(store: AnalyticsStore, request: Request) -> Response:
    dataset = request.headers.get(DATASET_HEADER)
    if request.method != "POST" or dataset is None:
        return Response(status=404, body=b"not part of the analytics engine protocol")
    event = await call_body(request, Event)
    if isinstance(event, Response):
        return event
    await store.write(event.point(dataset))
    return json_response(200, b"{}")
