"""Files of imports that ended on another node, removed from this one.

A job removes its files where it ends. On several nodes that need not be where they were
made: the node that received an upload keeps its copy while another node, free first, claims
the job (fetching the upload from the store), and a node that died mid-job and came back holds
the files of a job another node finished. Each node therefore looks now and then for files of
imports that have ended and removes them (errors files stay: they are served after the end).
"""

from __future__ import annotations

from flokit.imports.job import ImportPaths
from flokit.store.contract import ImportStore


def remove_ended(paths: ImportPaths, store: ImportStore) -> int:
    """Remove the working files of every import here whose job has ended; how many files.
    Files of an import not recorded (yet: its upload is being received) are left alone."""
    removed = 0
    for import_id in _imports_with_files(paths):
        record = store.load_import(import_id)
        if record is None or not record.status.ended:
            continue
        for path in paths.working_files(import_id):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _imports_with_files(paths: ImportPaths) -> set[str]:
    """The imports that have a working file here (an errors file alone does not count)."""
    found = set()
    for path in paths.root.glob("imp_*.*"):
        import_id = path.name.split(".", 1)[0]
        if path != paths.errors(import_id):
            found.add(import_id)
    return found
