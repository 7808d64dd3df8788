"""Uploaded files onto disk, safely, before they are ingested.

Each upload request gets a new folder under the upload folder (``<when>-<random>``); every file is written
there under a sanitised name: the last path component only (``../../etc/passwd`` becomes ``passwd``; ``\\`` is a
separator too), Unicode normalised (NFKC), control and shell-special characters replaced, no leading dot,
at most :data:`MAX_NAME_LENGTH` characters, and a ``-2``, ``-3``... suffix when two files of one request share a
name. Files are created exclusively (``O_EXCL``) inside that folder and the resolved path is checked to be
inside it, so nothing outside the upload folder is ever written and no existing file is overwritten.

The files stay after ingest (the folder is the record of what was uploaded): when ingest fails, the upload
is not lost. The sanitised name is the file's *source* in the index (the name a file lying in the collection
root has: :mod:`ingest.sources`), so uploading a new version of ``manual.pdf`` replaces the old one's chunks,
and re-uploading the same bytes changes nothing.

Checks, all before anything is written: at most ``max_files`` files, each at most ``max_bytes``, each with
an allowed extension. Not handled here: the content type (the ingest pipeline detects it from the bytes and
reports a file whose content does not match).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

__all__ = ["MAX_NAME_LENGTH", "StoredUpload", "UploadError", "UploadPolicy", "safe_filename", "store_uploads"]

MAX_NAME_LENGTH = 120
_UNSAFE = re.compile(r"[^\w.\- ()+,@=]", re.UNICODE)
_RUNS = re.compile(r"[_ ]{2,}")


class UploadError(ValueError):
    """An upload refused before anything was written; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class UploadPolicy:
    """Where uploads go and what is accepted."""

    folder: Path
    max_bytes: int
    allowed_suffixes: tuple[str, ...]
    max_files: int = 20

    def describe_limit(self) -> str:
        return human_size(self.max_bytes)


def human_size(size: int) -> str:
    """``1,048 bytes``, ``12.5 KiB``, ``50.0 MiB``."""
    if size < 10 * 2**10:
        return f"{size:,} bytes"
    if size < 2**20:
        return f"{size / 2**10:.1f} KiB"
    return f"{size / 2**20:.1f} MiB"


@dataclass(frozen=True)
class IncomingFile:
    """One file of the request: the name the client sent, its size and a readable binary stream."""

    filename: str
    size: int
    stream: BinaryIO


@dataclass(frozen=True)
class StoredUpload:
    """Where an upload was written; ``source`` is its name in the index."""

    filename: str
    source: str
    path: Path


def safe_filename(name: str) -> str:
    """A file name that is safe to create in a folder: see the module docstring.

    >>> safe_filename("../../etc/passwd"), safe_filename("C:\\\\Users\\\\me\\\\report.pdf"), safe_filename(".env")
    ('passwd', 'report.pdf', 'env')
    """
    name = unicodedata.normalize("NFKC", name or "")
    name = PurePosixPath(name.replace("\\", "/")).name  # last component; '..' and '.' have no .name part
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # control, format, private use
    name = _RUNS.sub("_", _UNSAFE.sub("_", name)).strip(" ._")
    if name in ("", "..", "."):
        name = "upload"
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, suffix = name.rpartition(".")
        if dot and 0 < len(suffix) <= 16:
            name = stem[: MAX_NAME_LENGTH - len(suffix) - 1].rstrip(" ._") + "." + suffix
        else:
            name = name[:MAX_NAME_LENGTH]
    return name


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def check_uploads(files: list[IncomingFile], policy: UploadPolicy) -> list[str]:
    """The sanitised, unique names of ``files``; raises :class:`UploadError` naming the first bad file."""
    if not files:
        raise UploadError(422, "No file received: send one or more files in the multipart form field 'files'.")
    if len(files) > policy.max_files:
        raise UploadError(
            413, f"{len(files)} files in one request; at most {policy.max_files} (server.max_upload_files)."
        )
    names: list[str] = []
    taken: set[str] = set()
    for item in files:
        name = safe_filename(item.filename)
        if _suffix(name) not in policy.allowed_suffixes:
            raise UploadError(
                415, f"{item.filename!r}: type {_suffix(name) or '(no extension)'} is not accepted; allowed: "
                f"{', '.join(policy.allowed_suffixes)} (server.upload_types)."
            )
        if item.size > policy.max_bytes:
            raise UploadError(
                413, f"{item.filename!r} is {human_size(item.size)}; the limit is {policy.describe_limit()} "
                "per file (server.max_upload_mb)."
            )
        unique, n = name, 1
        while unique.lower() in taken:
            n += 1
            stem, suffix = name[: -len(_suffix(name))], name[-len(_suffix(name)):]
            unique = f"{stem}-{n}{suffix}"
        taken.add(unique.lower())
        names.append(unique)
    return names


def _new_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(16):
        folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise OSError(f"cannot create a new folder in {root}")  # pragma: no cover - 16 random collisions


def store_uploads(files: list[IncomingFile], policy: UploadPolicy) -> list[StoredUpload]:
    """Check ``files`` (:func:`check_uploads`), then write them into a new folder under ``policy.folder``.

    Blocking (disk writes): call it from a worker thread. Each file is flushed and ``fsync``-ed, so an upload
    that was acknowledged survives a crash during its ingest.
    """
    names = check_uploads(files, policy)
    root = policy.folder.resolve()
    folder = _new_folder(root)
    stored: list[StoredUpload] = []
    for item, name in zip(files, names, strict=True):
        path = folder / name
        if path.resolve().parent != folder:  # belt and braces: safe_filename leaves no separator
            raise UploadError(400, f"{item.filename!r}: not a plain file name.")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o640)
        with os.fdopen(descriptor, "wb") as out:
            item.stream.seek(0)
            shutil.copyfileobj(item.stream, out, length=2**20)
            out.flush()
            os.fsync(out.fileno())
        stored.append(StoredUpload(item.filename, name, path))
    return stored
