"""Zip-based formats (DOCX, PPTX, XLSX, EPUB) are opened through :func:`open_zip`, which refuses a zip bomb
before any parser inflates a byte of it.

Every member is read through Python's :mod:`zipfile`, which never returns more than the uncompressed size a
member declares in the central directory, so bounding the declared sizes bounds what a parser can inflate.
Refused, each with one :class:`~ingest.types.LoadError` line: a total declared uncompressed size over
:data:`MAX_UNCOMPRESSED_BYTES`, a member of over :data:`RATIO_MIN_BYTES` that expands more than
:data:`MAX_RATIO` times (real Office XML expands 5-30 times; a bomb of zeros about 1000 times), and more than
:data:`MAX_MEMBERS` members. Doesn't handle: a central directory so large that reading it is the problem
(its size is bounded by the file's).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ingest.types import LoadError

__all__ = ["MAX_MEMBERS", "MAX_RATIO", "MAX_UNCOMPRESSED_BYTES", "RATIO_MIN_BYTES", "check_zip", "open_zip"]

#: The most a zip-based document may hold uncompressed, all members together.
MAX_UNCOMPRESSED_BYTES = 1 << 30
#: The most a member may expand (uncompressed / compressed size)...
MAX_RATIO = 100
#: ...when it is larger than this uncompressed (a small member may compress as well as it likes).
RATIO_MIN_BYTES = 1 << 20
#: The most members a document may have (an EPUB of a few thousand images is far below).
MAX_MEMBERS = 50_000


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


def open_zip(path: Path, source: str, what: str) -> zipfile.ZipFile:
    """``path`` as an open :class:`zipfile.ZipFile` (the caller closes it), once its declared sizes are
    within the bounds of this module; ``what`` names the format in errors ("DOCX"). Raises
    :class:`LoadError` for a damaged zip or one past a bound."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
        raise LoadError(source, f"damaged zip/{what} file ({e}); re-save it from its application") from None
    try:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise LoadError(
                source,
                f"{what} refused: {len(members):,} files inside, more than {MAX_MEMBERS:,} (a zip bomb?); "
                "re-save it from its application if it is genuine",
            )
        total = 0
        for info in members:
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > RATIO_MIN_BYTES and ratio > MAX_RATIO:
                raise LoadError(
                    source,
                    f"{what} refused: {info.filename} would expand {ratio:,.0f} times to {_mib(info.file_size)}, "
                    f"more than {MAX_RATIO} times (a zip bomb?); re-save it from its application if it is genuine",
                )
        if total > MAX_UNCOMPRESSED_BYTES:
            raise LoadError(
                source,
                f"{what} refused: {_mib(total)} uncompressed, more than {_mib(MAX_UNCOMPRESSED_BYTES)} (a zip "
                "bomb?); split the document or export it to a smaller format if it is genuine",
            )
    except BaseException:
        archive.close()
        raise
    return archive


def check_zip(path: Path, source: str, what: str) -> None:
    """:func:`open_zip` for a parser that opens the file itself: raises, or returns when it is safe to."""
    open_zip(path, source, what).close()
