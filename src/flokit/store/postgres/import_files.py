"""Import uploads in PostgreSQL, so that the nodes of a deployment need no shared disk.

The node that receives an upload copies it in before the job is queued; a node that claims
the job without having the file (the receiving node died, or another node was free first)
fetches it; the job's end deletes it. Both ways go ``CHUNK_BYTES`` at a time, so memory stays
that of one chunk whatever the size of the file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flokit.store.postgres.connections import Connection

log = logging.getLogger("flokit.imports")
CHUNK_BYTES = 1 << 20
#: ``%b``: the chunk travels as binary, not as hex text twice its size.
_INSERT = "INSERT INTO import_files (import_id, chunk, data) VALUES (%s, %s, %b)"
_SELECT = "SELECT data FROM import_files WHERE import_id = %s AND chunk = %s"


def keep(conn: Connection, import_id: str, path: Path) -> None:
    """Copy the file in, chunk by chunk (the caller's transaction makes it all or nothing)."""
    with path.open("rb") as source:
        for number, data in enumerate(iter(lambda: source.read(CHUNK_BYTES), b"")):
            conn.execute(_INSERT, (import_id, number, data))


def fetch(conn: Connection, import_id: str, path: Path) -> bool:
    """Write the kept file to ``path``, chunk by chunk; False if none is kept. It is written
    beside ``path`` and renamed once on disk, so ``path`` never holds part of it."""
    partial = path.with_name(path.name + ".fetching")
    number, size = 0, 0
    # A binary cursor: the chunks come back as bytes, not as hex text to decode.
    with conn.cursor(binary=True) as cursor, partial.open("wb") as out:
        while (row := cursor.execute(_SELECT, (import_id, number)).fetchone()) is not None:
            size += out.write(row[0])
            number += 1
        out.flush()
        os.fsync(out.fileno())  # before the rename: a crash never leaves part of it at ``path``
    if number == 0:
        partial.unlink()
        return False
    partial.replace(path)
    log.info("import %s: upload fetched from PostgreSQL (%d bytes)", import_id, size)
    return True


def forget(conn: Connection, import_id: str) -> None:
    conn.execute("DELETE FROM import_files WHERE import_id = %s", (import_id,))
