"""Flink job archives on disk at the edge: the documents Flink's REST API answered for a
finished job, as the history server reads them, into run observations.

Two forms: the archive files the job manager writes to ``jobmanager.archive.fs.dir`` (one
file per job, named by its id: ``{"archive": [{"path": "/jobs/<id>", "json": "<document>"},
...]}``), and a history server's unpacked web directory (``jobs/overview.json``,
``jobs/<id>.json``, ``jobs/<id>/exceptions.json``, ...). Either way the documents are read
by the same code as a live poll (``flinkrest.job_observation``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from batchwatch.ingest.flinkrest import FlinkUnreachable, job_observation
from batchwatch.runs.observations import RunObservation

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024


class ArchiveError(Exception):
    """An archive we cannot read, with a sentence for the operator."""


def _fetcher(documents: dict[str, Any]) -> Callable[[str], Any]:
    def fetch(path: str) -> Any:
        if path not in documents:
            raise FlinkUnreachable(f"the archive has no {path}", status=404)
        return documents[path]

    return fetch


def _load(path: Path) -> Any:
    if path.stat().st_size > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"{path}: larger than {MAX_ARCHIVE_BYTES // 2**20} MiB")
    try:
        return json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{path}: not JSON ({exc})") from None


def archive_documents(path: Path) -> dict[str, Any]:
    """The documents of one archive file, by REST path."""
    archive = _load(path)
    entries = archive.get("archive") if isinstance(archive, dict) else None
    if not isinstance(entries, list):
        raise ArchiveError(f"{path}: not a Flink job archive (no 'archive' list)")
    documents = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            try:
                documents[entry["path"]] = json.loads(entry.get("json") or "null")
            except (TypeError, json.JSONDecodeError):
                continue  # one unreadable document: the others still say something
    return documents


def web_dir_documents(root: Path) -> dict[str, Any]:
    """The documents of a history server's web directory, by REST path."""
    documents = {}
    for file in sorted((root / "jobs").rglob("*.json")):
        rest = file.relative_to(root).with_suffix("").as_posix()
        try:
            documents[f"/{rest}"] = _load(file)
        except ArchiveError:
            continue
    return documents


def observations_from(
    path: Path, *, namespace: str
) -> Iterator[tuple[Path, list[RunObservation] | ArchiveError]]:
    """Per archive found at ``path`` (a file, a directory of archive files, or a history
    server's web directory), its jobs as observations, or why it could not be read."""
    if not path.exists():
        raise ArchiveError(f"{path} does not exist")
    if path.is_dir() and (path / "jobs" / "overview.json").is_file():
        yield path, _jobs(web_dir_documents(path), namespace=namespace, where=path)
        return
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    for file in files:
        if file.name.startswith("."):
            continue
        try:
            documents = archive_documents(file)
        except ArchiveError as exc:
            yield file, exc
            continue
        yield file, _jobs(documents, namespace=namespace, where=file)


def _jobs(documents: dict[str, Any], *, namespace: str, where: Path):
    overview = documents.get("/jobs/overview")
    jobs = overview.get("jobs") if isinstance(overview, dict) else None
    if not isinstance(jobs, list):
        return ArchiveError(f"{where}: no /jobs/overview document with a 'jobs' list")
    fetch = _fetcher(documents)
    found = [
        job_observation(job, fetch, namespace=namespace) for job in jobs if isinstance(job, dict)
    ]
    return [o for o in found if o is not None]
