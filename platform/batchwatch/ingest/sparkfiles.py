"""Spark event log files: finding them (plain files, compressed files, Spark 4's rolling
directories ``eventlog_v2_<appId>/events_<N>_<appId>[.zstd]``) and reading their events
(zstd frames, lz4-java block streams, xerial snappy streams, plain). A truncated in-progress
log reads up to its last whole line; lines that are not events are skipped."""

from __future__ import annotations

import io
import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import cramjam
import zstandard

LZ4_MAGIC = b"LZ4Block"
SNAPPY_MAGIC = b"\x82SNAPPY\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Files a history directory holds beside logs: checksums, notes, the scripts that made them.
NOT_LOGS = (".crc", ".py", ".md", ".txt", ".sh")
ROLLING_DIR = re.compile(r"^eventlog_v2_(?P<app>.+)$")
ROLLING_FILE = re.compile(
    r"^events_(?P<index>\d+)_(?P<app>.+?)(\.(?P<codec>zstd|zst|lz4|snappy|lzf))?$"
)


class EventLogError(Exception):
    """A log we cannot read, with a sentence for the operator."""


# --- Decompression ------------------------------------------------------------------------------
def _codec_of(path: Path, head: bytes) -> str:
    name = path.name.removesuffix(".inprogress")
    for suffix, codec in (
        (".zstd", "zstd"),
        (".zst", "zstd"),
        (".lz4", "lz4"),
        (".snappy", "snappy"),
        (".lzf", "lzf"),
    ):
        if name.endswith(suffix):
            return codec
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(LZ4_MAGIC):
        return "lz4"
    if head.startswith(SNAPPY_MAGIC):
        return "snappy"
    return "plain"


def _lz4_blocks(stream: BinaryIO) -> Iterator[bytes]:
    """lz4-java's LZ4BlockOutputStream: magic, token, compressed and raw lengths, checksum."""
    while True:
        header = stream.read(21)
        if len(header) < 21:
            return  # end of file (an in-progress log may stop mid-block)
        if header[:8] != LZ4_MAGIC:
            raise EventLogError("not an lz4-java block stream (bad block magic)")
        method = header[8] & 0xF0
        compressed_len, raw_len, _checksum = struct.unpack("<iii", header[9:21])
        if raw_len == 0:
            return  # the end-of-stream block
        payload = stream.read(compressed_len)
        if len(payload) < compressed_len:
            return
        if method == 0x10:  # stored raw
            yield payload
        else:
            yield bytes(cramjam.lz4.decompress_block(payload, output_len=raw_len))


def _snappy_blocks(stream: BinaryIO) -> Iterator[bytes]:
    """xerial snappy-java's SnappyOutputStream: a header, then (big-endian length, block)s."""
    head = stream.read(16)
    if not head.startswith(SNAPPY_MAGIC):
        raise EventLogError("not a snappy-java stream (missing \\x82SNAPPY header)")
    while True:
        size_bytes = stream.read(4)
        if len(size_bytes) < 4:
            return
        (size,) = struct.unpack(">i", size_bytes)
        block = stream.read(size)
        if len(block) < size:
            return
        yield bytes(cramjam.snappy.decompress_raw(block))


def _zstd_chunks(stream: BinaryIO) -> Iterator[bytes]:
    reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    while True:
        try:
            chunk = reader.read(1 << 20)
        except zstandard.ZstdError as exc:
            if "incomplete" in str(exc).lower() or "truncated" in str(exc).lower():
                return  # an in-progress log ends mid-frame
            raise EventLogError(f"corrupt zstd data: {exc}") from None
        if not chunk:
            return
        yield chunk


def _plain_chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(1 << 20):
        yield chunk


def decompressed_chunks(path: Path, *, progress=None) -> Iterator[bytes]:
    with path.open("rb") as raw:
        head = raw.read(16)
        raw.seek(0)
        stream: BinaryIO = _CountingReader(raw, progress) if progress else raw
        codec = _codec_of(path, head)
        if codec == "lzf":
            raise EventLogError(f"{path.name}: the lzf codec is not supported; use zstd or lz4")
        reader = {
            "zstd": _zstd_chunks,
            "lz4": _lz4_blocks,
            "snappy": _snappy_blocks,
            "plain": _plain_chunks,
        }[codec]
        try:
            yield from reader(stream)
        except (cramjam.DecompressionError, struct.error) as exc:
            raise EventLogError(f"{path.name}: corrupt {codec} data: {exc}") from None


class _CountingReader(io.RawIOBase):
    """Reports bytes read from disk to a progress callback (for the CLI's progress bar)."""

    def __init__(self, raw: BinaryIO, progress) -> None:
        self._raw, self._progress = raw, progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._progress(len(data))
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def event_lines(paths: list[Path], *, progress=None) -> Iterator[dict[str, Any]]:
    """Parsed events from the files of one log in order; bad lines are skipped."""
    for path in paths:
        pending = b""
        for chunk in decompressed_chunks(path, progress=progress):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                event = _parse_line(line)
                if event is not None:
                    yield event
        event = _parse_line(pending)  # the last line, if the file did not end with \n
        if event is not None:
            yield event


def _parse_line(line: bytes) -> dict[str, Any] | None:
    line = line.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # a truncated last line of an in-progress log, or garbage: skip
    return event if isinstance(event, dict) and "Event" in event else None


# --- Finding logs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventLog:
    """One application's log: a single file, or the ordered files of a rolling directory."""

    path: Path  # the file, or the eventlog_v2_ directory
    files: tuple[Path, ...]
    in_progress: bool

    @property
    def size(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    @property
    def mtime(self) -> float:
        return max(f.stat().st_mtime for f in self.files)


def find_logs(path: Path) -> list[EventLog]:
    """The logs at ``path``: a log file, a rolling directory, or a directory holding them at
    any depth (history directories are often split by cluster or date)."""
    if not path.exists():
        raise EventLogError(f"{path} does not exist")
    if path.is_file():
        return [EventLog(path=path, files=(path,), in_progress=path.name.endswith(".inprogress"))]
    if ROLLING_DIR.match(path.name):
        return [_rolling(path)]
    logs = []
    for child in sorted(path.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir() and ROLLING_DIR.match(child.name):
            logs.append(_rolling(child))
        elif child.is_dir():
            logs += find_logs(child)
        elif (
            child.is_file()
            and not child.name.startswith("appstatus_")
            and not child.name.endswith(NOT_LOGS)
        ):
            logs.append(
                EventLog(path=child, files=(child,), in_progress=child.name.endswith(".inprogress"))
            )
    return logs


def _rolling(directory: Path) -> EventLog:
    parts = []
    for child in directory.iterdir():
        match = ROLLING_FILE.match(child.name)
        if match:
            parts.append((int(match["index"]), child))
    if not parts:
        raise EventLogError(f"{directory} has no events_<N>_<appId> files")
    in_progress = any(
        c.name.endswith(".inprogress")
        for c in directory.iterdir()
        if c.name.startswith("appstatus_")
    )
    return EventLog(
        path=directory, files=tuple(p for _, p in sorted(parts)), in_progress=in_progress
    )
