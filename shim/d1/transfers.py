"""D1's import and export flows, as wrangler drives them against production.

Import (`wrangler d1 execute --remote --file`): `import {action: init, etag}` answers an
upload URL; the client PUTs the file there (the answer's ETag must be the file's MD5);
`import {action: ingest}` starts running it, `import {action: poll}` reports until it is
`complete`. The file runs in one transaction: all of it, or nothing.

Export (`wrangler d1 export --remote`): `export {output_format: polling}` starts the dump
and is polled the same way; once complete it names a signed URL serving the SQL file.

Production keeps these files in R2; here they live in the data dir's private `run/`
folder, and the URLs point at the REST listener, signed with a per-boot key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from groundflare.contracts.names import file_part
from groundflare.shim.api.envelope import ApiError, ok
from groundflare.shim.api.routes import Call
from groundflare.shim.catalogue import Entry
from groundflare.shim.d1 import dump, statements
from groundflare.shim.d1.engine import Database
from groundflare.shim.d1.errors import D1Error
from groundflare.shim.messages import Response

log = logging.getLogger("shim")

SQL_ERROR = 7500
TRANSFERS_FOLDER = "d1-transfers"
# How long a request of the flow waits for the work before answering "active".
POLL_WAIT_SECONDS = 1.0
CHUNK_BYTES = 1024 * 1024
_MD5 = re.compile(r"[0-9a-f]{32}")


class ImportAction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: Literal["init", "ingest", "poll"]
    etag: str | None = None
    filename: str | None = None
    current_bookmark: str | None = None


class DumpOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    no_schema: bool = False
    no_data: bool = False
    tables: list[str] = []


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    output_format: Literal["polling"] = "polling"
    dump_options: DumpOptions = DumpOptions()
    current_bookmark: str | None = None


@dataclass
class Job:
    """One import or export of one database, running on the database's thread."""

    kind: Literal["import", "export"]
    task: asyncio.Task[dict[str, Any]]
    done_so_far: list[int] = field(default_factory=lambda: [0])
    filename: str = ""


# The running (or last) job of each database object.
_jobs: weakref.WeakKeyDictionary[Database, Job] = weakref.WeakKeyDictionary()


def folder(call: Call) -> Path:
    path = call.resources.data_dir / "run" / TRANSFERS_FOLDER
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def upload_path(call: Call, entry: Entry, etag: str) -> Path:
    return folder(call) / f"{file_part(entry.spec.id)}-{etag}.sql"


def _signed_url(call: Call, purpose: str, path: str) -> str:
    return f"{call.origin}/_groundflare/signed{path}?signature={call.resources.sign(purpose)}"


def _etag(value: str | None) -> str:
    if value is None or not _MD5.fullmatch(value):
        raise ApiError(400, SQL_ERROR, "etag must be the file's MD5, as 32 lowercase hex digits")
    return value


async def _state(db: Database, job: Job, wait: float = POLL_WAIT_SECONDS) -> dict[str, Any]:
    """The flow's answer for `job`: active, complete (with its result) or error."""
    await asyncio.wait({job.task}, timeout=wait)
    answer: dict[str, Any] = {"success": True, "type": job.kind, "at_bookmark": db.bookmark()}
    if not job.task.done():
        what = "Executed" if job.kind == "import" else "Exported"
        unit = "queries" if job.kind == "import" else "statements"
        answer.update(status="active", messages=[f"{what} {job.done_so_far[0]} {unit} so far"])
        return answer
    error = job.task.exception()
    if error is not None:
        message = error.message if isinstance(error, D1Error) else str(error)
        answer.update(success=False, status="error", error=message, messages=[message])
        answer["errors"] = [message]
        return answer
    answer.update(status="complete", messages=[], result=job.task.result())
    return answer


# ---- import ----


def _run_import(db: Database, path: Path, progress: list[int]) -> dict[str, Any]:
    sql = path.read_text(encoding="utf-8")
    meta = db.run_script(statements.split(sql), lambda n: progress.__setitem__(0, n))
    count = meta.pop("num_queries")
    return {"num_queries": count, "final_bookmark": db.bookmark(), "meta": meta}


async def import_action(call: Call, entry: Entry, db: Database) -> Response:
    action = ImportAction.model_validate_json(await call.request.body.read(64 * 1024))
    if action.action == "init":
        etag = _etag(action.etag)
        url = _signed_url(call, f"d1-import:{entry.spec.id}:{etag}", f"/d1/{entry.spec.id}/{etag}")
        return ok({"success": True, "filename": f"{etag}.sql", "upload_url": url})
    job = _jobs.get(db)
    if action.action == "ingest":
        path = upload_path(call, entry, _etag(action.etag))
        if not path.exists():
            raise ApiError(400, SQL_ERROR, f"{action.filename or path.name} was not uploaded")
        if job is not None and not job.task.done():
            raise ApiError(409, SQL_ERROR, f"an {job.kind} of this database is running")
        progress = [0]
        task = asyncio.create_task(_ingest(db, path, progress))
        job = _jobs[db] = Job("import", task, progress)
    if job is None or job.kind != "import":
        raise ApiError(400, SQL_ERROR, "no import of this database to poll")
    return ok(await _state(db, job))


async def _ingest(db: Database, path: Path, progress: list[int]) -> dict[str, Any]:
    try:
        return await db.call(partial(_run_import, db, path, progress), inline=False)
    finally:
        await asyncio.to_thread(partial(path.unlink, missing_ok=True))


async def upload(call: Call, entry: Entry) -> Response:
    """The PUT of the upload URL: the file is written as it arrives; its MD5 is the ETag."""
    etag = call.param("etag")
    if not _MD5.fullmatch(etag) or not call.resources.check_signature(
        f"d1-import:{entry.spec.id}:{etag}", call.request.query.get("signature", "")
    ):
        raise ApiError(403, 10000, "the upload URL is not valid")
    final = upload_path(call, entry, etag)
    partial_file = final.with_name(f".{final.name}.{secrets.token_hex(4)}")
    digest = hashlib.md5()
    handle = await asyncio.to_thread(partial_file.open, "wb")
    try:
        async for chunk in call.request.body.chunks():
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(partial_file.replace, final)
    except BaseException:
        handle.close()
        partial_file.unlink(missing_ok=True)
        raise
    return Response(status=200, headers={"ETag": f'"{digest.hexdigest()}"'})


# ---- export ----


def _run_export(db: Database, path: Path, options: DumpOptions, progress: list[int]) -> None:
    with db.trusted() as execute, path.open("w", encoding="utf-8") as out:
        lines = dump.statements(execute, options.tables, options.no_schema, options.no_data)
        for count, line in enumerate(lines, 1):
            if count > 1:
                out.write("\n")
            out.write(line)
            progress[0] = count


async def export_action(call: Call, entry: Entry, db: Database) -> Response:
    request = ExportRequest.model_validate_json(await call.request.body.read(64 * 1024))
    job = _jobs.get(db)
    if request.current_bookmark is None or job is None or job.kind != "export":
        if job is not None and not job.task.done():
            raise ApiError(409, SQL_ERROR, f"an {job.kind} of this database is running")
        name = f"{file_part(entry.spec.id)}-{secrets.token_hex(8)}.sql"
        progress = [0]
        task = asyncio.create_task(
            _export(call, entry, db, folder(call) / name, request.dump_options, progress)
        )
        job = _jobs[db] = Job("export", task, progress, name)
    return ok(await _state(db, job))


async def _export(
    call: Call, entry: Entry, db: Database, path: Path, options: DumpOptions, progress: list[int]
) -> dict[str, Any]:
    try:
        await db.call(partial(_run_export, db, path, options, progress), inline=False)
    except BaseException:
        await asyncio.to_thread(partial(path.unlink, missing_ok=True))
        raise
    purpose = f"d1-export:{entry.spec.id}:{path.name}"
    url = _signed_url(call, purpose, f"/d1/{entry.spec.id}/exports/{path.name}")
    return {"filename": path.name, "signed_url": url}


async def download(call: Call, entry: Entry) -> Response:
    name = call.param("file")
    signature = call.request.query.get("signature", "")
    path = folder(call) / name
    if (
        "/" in name
        or not call.resources.check_signature(f"d1-export:{entry.spec.id}:{name}", signature)
        or not path.is_file()
    ):
        raise ApiError(404, 10000, "the download URL is not valid (or the shim restarted)")
    size = path.stat().st_size
    return Response(body=_chunks(path), length=size, headers={"Content-Type": "application/sql"})


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()
