"""``/v1/imports``: CSV historical imports ("Data → Import", contract §10)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from flokit.api.bodies import Import, ImportPage, ImportRowError
from flokit.api.paging import (
    CursorParam,
    check_params,
    decode_cursor,
    encode_cursor,
    page_limit,
    param_names,
    split_page,
)
from flokit.errors import InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from flokit.http import json_response, note
from flokit.imports.csvfile import BadFile
from flokit.imports.job import START
from flokit.imports.upload import Received, inspect, receive
from flokit.keys import new_public_id
from flokit.model import ApiKey, ImportPhase, ImportRecord, ImportStatus
from flokit.pipeline.auth import authenticate, require_write
from flokit.services import Services, services
from flokit.timestamps import format_iso

log = logging.getLogger("flokit.imports")
#: Imports on one page of the list (each carries up to 100 row errors).
LIST_LIMIT = 100
#: The creation time and id of the last import shown.
_CURSOR = re.compile(r"i([0-9]{1,18})\.(imp_[0-9A-Za-z]{1,64})")
#: The media types ``POST /v1/imports`` takes the raw file as (besides a multipart form).
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream")
_TRUE = ("true", "1", "yes")


class CreateParams(msgspec.Struct):
    """The query of ``POST /v1/imports``."""

    dry_run: Annotated[bool, Meta(description="Validate every row, store nothing")] = False


class ListParams(msgspec.Struct):
    """The query of ``GET /v1/imports``."""

    limit: Annotated[int, Meta(ge=1, le=LIST_LIMIT, description="Page size")] = LIST_LIMIT
    cursor: CursorParam = None


def import_body(record: ImportRecord) -> Import:
    """An import as the API shows it."""
    return Import(
        import_id=record.id,
        status=record.status,
        phase=record.phase,
        dry_run=record.dry_run,
        file_name=record.file_name,
        file_bytes=record.file_bytes,
        duplicate_of=record.duplicate_of,
        rows_total=record.rows_total,
        rows_processed=record.rows_processed,
        accepted=record.accepted,
        rejected=record.rejected,
        duplicates=record.duplicates,
        created_at=format_iso(record.created_us),
        started_at=_iso(record.started_us),
        finished_at=_iso(record.finished_us),
        errors=msgspec.convert(record.errors, list[ImportRowError]),
        errors_url=f"/v1/imports/{record.id}/errors.csv",
        failure=record.failure,
    )


def _iso(micros: int | None) -> str | None:
    return format_iso(micros) if micros is not None else None


async def create_import(request: Request) -> Response:
    """Stream the CSV to disk, check its header, and queue the job: 202 with its Location."""
    note(request, route="imports_create")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    require_write(key)
    check_params(request.query_params, param_names(CreateParams))
    dry_run = request.query_params.get("dry_run", "false").lower() in _TRUE
    import_id = new_public_id("imp_")
    received, file_name = await _receive_file(request, svc, import_id)
    try:
        inspect(received.path)
    except BadFile as exc:
        received.path.unlink(missing_ok=True)
        raise InvalidRequest(str(exc), field="file") from None
    same = None if dry_run else await svc.store.find_same_file(key.workspace_id, received.sha256)
    record = _new_record(key, import_id, received, file_name, dry_run, same, svc.now_us())
    await _record_import(svc, record, received)
    body = import_body(record)
    if same is not None:
        received.path.unlink(missing_ok=True)
        body.message = f"This file was already imported as {same.id}; nothing was stored again"
        return json_response(body, 200)
    svc.imports.wake()
    return json_response(body, 202, {"Location": f"/v1/imports/{import_id}"})


async def _record_import(svc: Services, record: ImportRecord, received: Received) -> None:
    """Keep the upload where any node can get it, then record the import, which queues its
    job (one that repeats an imported file is done at once and keeps nothing). If either
    fails, the upload goes, here and, as far as the store can tell, where it was kept."""
    keep = record.duplicate_of is None
    try:
        if keep:
            await svc.store.keep_import_file(record.id, received.path)
        await svc.store.create_import(record)
    except BaseException:  # a cancelled upload too: nothing of it may stay behind
        received.path.unlink(missing_ok=True)
        if keep:
            await _forget_quietly(svc, record.id)
        raise


async def _forget_quietly(svc: Services, import_id: str) -> None:
    """Forget a kept upload of an import never recorded; a store that cannot (the reason the
    import failed, likely) leaves it behind, logged."""
    try:
        await asyncio.to_thread(svc.store.forget_import_file, import_id)
    except Exception:
        log.exception("import %s: its upload could not be forgotten", import_id)


def _new_record(
    key: ApiKey,
    import_id: str,
    received: Received,
    file_name: str | None,
    dry_run: bool,
    same: ImportRecord | None,
    now_us: int,
) -> ImportRecord:
    done = same is not None
    return ImportRecord(
        id=import_id,
        workspace_id=key.workspace_id,
        status=ImportStatus.COMPLETED if done else ImportStatus.QUEUED,
        dry_run=dry_run,
        file_sha256=received.sha256,
        file_bytes=received.size,
        file_name=file_name,
        duplicate_of=same.id if same else None,
        rows_total=same.rows_total if same else None,
        rows_processed=0,
        accepted=0,
        rejected=0,
        duplicates=0,
        errors=[],
        failure=None,
        phase=ImportPhase.DONE if done else ImportPhase.VALIDATE,
        stored_ts=START,
        stored_row=0,
        created_us=now_us,
        started_us=None,
        finished_us=now_us if done else None,
        heartbeat_us=None,
    )


async def _receive_file(
    request: Request, svc: Services, import_id: str
) -> tuple[Received, str | None]:
    """The upload on disk: a raw CSV body, or the ``file`` field of a multipart form."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    dest = svc.import_paths.upload(import_id)
    limit = svc.settings.import_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit * 2:  # even gzip cannot shrink it enough
        raise PayloadTooLarge(f"The import file exceeds the limit of {limit} bytes")
    if media in CSV_TYPES:
        return await receive(request.stream(), dest, limit), None
    if media == "multipart/form-data":
        async with _form(request) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidRequest("The form must carry the CSV in a `file` field", field="file")
            return await receive(_chunks(upload), dest, limit), upload.filename
    raise UnsupportedMediaType(
        f"Send the file as text/csv or multipart/form-data (got {media or 'none'})"
    )


@asynccontextmanager
async def _form(request: Request) -> AsyncIterator[FormData]:
    """The parsed form; one Starlette cannot parse (no boundary, too many parts) is a 400."""
    try:
        form = await request.form(max_files=1, max_fields=5)
    except HTTPException as exc:
        raise InvalidRequest(f"The multipart form could not be read: {exc.detail}") from None
    try:
        yield form
    finally:
        await form.close()


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1 << 20):
        yield chunk


async def _own_import(request: Request) -> tuple[Services, ImportRecord]:
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    import_id = request.path_params["import_id"]
    record = await svc.store.get_import(key.workspace_id, import_id)
    if record is None:
        raise NotFound(f"No import {import_id} in this workspace")
    return svc, record


async def get_import(request: Request) -> Response:
    note(request, route="imports_get")
    _, record = await _own_import(request)
    return json_response(import_body(record))


async def import_errors(request: Request) -> Response:
    """Every rejected row as it was in the file, plus its row number and reason."""
    note(request, route="imports_errors")
    svc, record = await _own_import(request)
    path = svc.import_paths.errors(record.id)
    if record.phase is ImportPhase.VALIDATE or not path.exists():
        raise NotFound(f"Import {record.id} has no errors file (yet)")
    return FileResponse(path, media_type="text/csv", filename=f"{record.id}-errors.csv")


async def list_imports(request: Request) -> Response:
    """A page of the workspace's imports, newest first, with a cursor to the next page."""
    note(request, route="imports_list")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    params = request.query_params
    check_params(params, param_names(ListParams))
    limit = page_limit(params.get("limit"), LIST_LIMIT, LIST_LIMIT)
    cursor = decode_cursor(params.get("cursor"), _CURSOR)
    before = (int(cursor[1]), cursor[2]) if cursor else None
    # One more than asked tells whether a next page exists.
    records, last = split_page(
        await svc.store.list_imports(key.workspace_id, limit + 1, before), limit
    )
    cursor_out = encode_cursor(f"i{last.created_us}.{last.id}") if last else None
    return json_response(ImportPage([import_body(r) for r in records], cursor_out))
