"""Durable Objects in the v4 API: production's namespace and object listings, and SQL
against one object's SQLite storage (a local addition: production has no such route).

    GET  /accounts/{a}/workers/durable_objects/namespaces
    GET  /accounts/{a}/workers/durable_objects/namespaces/{id}/objects
    GET  /accounts/{a}/workers/durable_objects/namespaces/{id}/objects/{object}/alarm
    POST /accounts/{a}/workers/durable_objects/namespaces/{id}/objects/{object}/query
         {"sql", "params", "write": false}: read-only unless `write` is true; an object
         that has never run reads as an empty database and cannot be written
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from pydantic import BaseModel, ConfigDict, StrictStr

from groundflare.shim.api.envelope import ApiError, ok
from groundflare.shim.api.routes import ACCOUNT, Call, Route
from groundflare.shim.d1.values import Param
from groundflare.shim.door import Door, DoorError
from groundflare.shim.durable_objects.storage import Namespace, StorageError, namespaces, run_sql
from groundflare.shim.messages import Response

DO_FOLDER = "do"
NAMESPACES = f"{ACCOUNT}/workers/durable_objects/namespaces"
OBJECT = f"{NAMESPACES}/{{namespace}}/objects/{{object}}"
NOT_FOUND = 10097


class ObjectQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sql: StrictStr
    params: list[Param] = []
    write: bool = False


def _do_dir(call: Call) -> Path:
    return call.resources.data_dir / DO_FOLDER


def _namespace(call: Call) -> Namespace:
    wanted = call.param("namespace")
    for found in namespaces(_do_dir(call)):
        if found.id == wanted:
            return found
    raise ApiError(404, NOT_FOUND, f"Durable Object namespace {wanted} not found")


def _object_file(call: Call) -> Path:
    path = _namespace(call).object_file(call.param("object"))
    if path is None:
        raise ApiError(404, NOT_FOUND, f"Durable Object {call.param('object')} not found")
    return path


async def list_namespaces(call: Call) -> Response:
    found = await asyncio.to_thread(namespaces, _do_dir(call))
    return ok([n.describe() for n in found])


async def list_objects(call: Call) -> Response:
    found = _namespace(call)
    ids = await asyncio.to_thread(found.objects)
    alarms = await asyncio.to_thread(found.alarms)
    cursor = call.request.query.get("cursor", "")
    limit = int(call.request.query.get("limit", "1000") or 1000)
    after = [i for i in ids if i > cursor][:limit]
    more = len([i for i in ids if i > cursor]) > limit
    objects = [{"id": i, "hasStoredData": True, "alarm": alarms.get(i)} for i in after]
    return ok(objects, {"count": len(objects), "cursor": after[-1] if more else ""})


async def alarm(call: Call) -> Response:
    found = _namespace(call)
    alarms = await asyncio.to_thread(found.alarms)
    return ok({"scheduled_time": alarms.get(call.param("object"))})


def query_route(door: Door | None) -> Route:
    async def query(call: Call) -> Response:
        path = _object_file(call)
        body = ObjectQuery.model_validate_json(await call.request.body.read(1024 * 1024))
        stored = path.is_file()
        if body.write and not stored:
            raise ApiError(
                404,
                NOT_FOUND,
                f"Durable Object {call.param('object')} has no storage yet: workerd creates it "
                "when the object first runs, so call the object once before writing to it",
            )
        if body.write:
            if door is None:
                raise ApiError(409, 10000, "writes need the running stack's door")
            try:
                # No instance may hold the file, or a picture of it, while it changes.
                await door.durable_objects("abort")
            except DoorError as exc:
                raise ApiError(503, 10000, f"cannot pause the Durable Objects: {exc}") from exc
        try:
            results = await asyncio.to_thread(
                partial(run_sql, path if stored else None, body.sql, list(body.params), body.write)
            )
        except StorageError as exc:
            raise ApiError(400, 7500, exc.args[0]) from exc
        return ok(results)

    return Route("POST", f"{OBJECT}/query", query)


def routes(door: Door | None) -> list[Route]:
    return [
        Route("GET", NAMESPACES, list_namespaces),
        Route("GET", f"{NAMESPACES}/{{namespace}}/objects", list_objects),
        Route("GET", f"{OBJECT}/alarm", alarm),
        query_route(door),
    ]
