"""OCR of PDF pages that have no text layer (scans): Tesseract, run as a program on a page image.

Handles: finding Tesseract (:func:`find_tesseract`: a name on ``PATH`` or a path, its version and installed
language data, with one line saying how to install what is missing), rendering one page at a time with PDFium
(:func:`render_page`: grayscale PNG at :data:`DEFAULT_OCR_DPI`, capped at :data:`MAX_PIXELS` so a poster-sized
page cannot take gigabytes), running ``tesseract stdin stdout -l LANG hocr`` on it (:func:`ocr_png`) and reading
the hOCR into lines with their position in pixels, Tesseract's paragraph numbers and its estimate of the font
size (:class:`OcrLine`). Words Tesseract is unsure of on a line that holds no letter or digit it is sure of
(speckles, rules, the edge of a picture) are dropped.

Does not: deskew, despeckle or otherwise clean the image (``ocrmypdf --clean --deskew`` does, and its output
then has a text layer that :mod:`ingest.loaders.pdf` reads); OCR pictures on pages that do have text; find
columns beyond what Tesseract's page segmentation finds.

Why the program and not a binding: ``benchmarks/ocr_engines.py`` measured this module, ``pytesseract`` (the
same program, through temporary files) and ``ocrmypdf`` on a generated 6-page scan: word recall 0.992, 0.992
and 0.977, seconds per page within the noise of a busy machine (2.99, 3.44, 3.68 in one run; pytesseract was
the faster in another). Same words, no dependency beyond Tesseract itself: README "Scanned PDFs (OCR)".
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "DEFAULT_OCR_DPI",
    "DEFAULT_OCR_LANGUAGE",
    "INSTALL_HINT",
    "MAX_PIXELS",
    "OCR_MODES",
    "OcrError",
    "OcrLine",
    "OcrMode",
    "OcrOptions",
    "OcrUnavailable",
    "Tesseract",
    "find_tesseract",
    "ocr_png",
    "page_ranges",
    "parse_hocr",
    "render_page",
]

#: ``auto``: OCR pages without text when Tesseract is installed, else a warning naming them; ``on``: the same,
#: but a missing Tesseract fails the file; ``off``: never OCR (pages without text are named in a warning).
OcrMode = Literal["auto", "on", "off"]
OCR_MODES: tuple[str, ...] = get_args(OcrMode)
DEFAULT_OCR_LANGUAGE = "eng"
DEFAULT_OCR_DPI = 300
#: Pixels of one rendered page at most (an A3 page at 300 dpi is 17.4 million): larger pages render at a
#: lower resolution, so a page image never takes more than this many bytes (grayscale).
MAX_PIXELS = 36_000_000
INSTALL_HINT = (
    "install Tesseract (Debian/Ubuntu: apt-get install tesseract-ocr tesseract-ocr-eng; macOS: brew install "
    "tesseract) or set ingest.tesseract_cmd to its path, then ingest again"
)
_LANGUAGE = re.compile(r"[A-Za-z0-9_]+(?:\+[A-Za-z0-9_]+)*")
_MIN_CONFIDENCE = 50  # a line needs a letter or digit in a word at least this sure (Tesseract's 0-100)


@dataclass(frozen=True)
class OcrOptions:
    """How pages without a text layer are read.

    ``mode``: one of :data:`OCR_MODES`. ``language``: Tesseract's language codes joined by ``+``
    (``"eng"``, ``"deu+eng"``; each needs its data installed, Debian's ``tesseract-ocr-deu``).
    ``tesseract_cmd``: the program, a name on ``PATH`` or a path. ``dpi``: the resolution pages are rendered at
    (150-600; 300 suits body text). ``timeout_s``: the longest one page may take.
    """

    mode: OcrMode = "auto"
    language: str = DEFAULT_OCR_LANGUAGE
    tesseract_cmd: str = "tesseract"
    dpi: int = DEFAULT_OCR_DPI
    timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if self.mode not in OCR_MODES:
            raise ValueError(f"ocr must be one of {', '.join(OCR_MODES)}; got {self.mode!r}")
        if not _LANGUAGE.fullmatch(self.language):
            raise ValueError(
                f"ocr_language must be Tesseract language codes joined by '+' (e.g. 'eng', 'deu+eng'); "
                f"got {self.language!r}"
            )
        if not 150 <= self.dpi <= 600:
            raise ValueError(f"OCR dpi must be between 150 and 600; got {self.dpi}")
        if not self.tesseract_cmd:
            raise ValueError("tesseract_cmd must name the Tesseract program (e.g. 'tesseract')")

    def fingerprint(self) -> str:
        """What OCR adds to a file's chunks: ``"off"``, ``"none"`` (no Tesseract) or the language. Part of the
        ingest settings, so installing Tesseract or changing the language reads PDFs again."""
        if self.mode == "off":
            return "off"
        try:
            find_tesseract(self.tesseract_cmd, self.language)
        except OcrUnavailable:
            return "none"
        return self.language


class OcrUnavailable(Exception):
    """Tesseract or a language's data is missing: ``reason`` says what, ``fix`` what to install or set."""

    def __init__(self, reason: str, fix: str = INSTALL_HINT) -> None:
        super().__init__(f"{reason}; {fix}")
        self.reason = reason
        self.fix = fix


class OcrError(Exception):
    """Tesseract failed on one page."""


@dataclass(frozen=True)
class Tesseract:
    path: str
    version: str  # "5.3.0"
    languages: frozenset[str]


_FOUND: dict[tuple[str, int], Tesseract] = {}


def find_tesseract(cmd: str = "tesseract", language: str | None = None) -> Tesseract:
    """The Tesseract program ``cmd`` (a name on ``PATH`` or a path), checked to have ``language``'s data.

    Raises :class:`OcrUnavailable` naming what to install. A found program is remembered by path and
    modification time; a missing one is looked for again on every call (it may be installed meanwhile).
    """
    path = shutil.which(cmd)
    if path is None:
        raise OcrUnavailable(f"Tesseract was not found ({cmd!r} is not an installed program)")
    try:
        key = (os.path.realpath(path), os.stat(path).st_mtime_ns)
    except OSError as e:
        raise OcrUnavailable(f"Tesseract at {path} cannot be read ({e.strerror})") from None
    found = _FOUND.get(key)
    if found is None:
        try:
            version = _run([path, "--version"])
            listed = _run([path, "--list-langs"])
        except (OSError, subprocess.SubprocessError) as e:
            raise OcrUnavailable(f"Tesseract at {path} does not run ({e})") from None
        m = re.search(r"tesseract\s+v?(\d+(?:\.\d+)*)", version, re.I)
        if m is None or int(m.group(1).split(".")[0]) < 4:
            raise OcrUnavailable(f"{path} is not Tesseract 4 or later (it says {version.strip()[:60]!r})")
        # "List of available languages in "/usr/share/tesseract-ocr/5/tessdata/" (2):" then one per line
        languages = frozenset(line.strip() for line in listed.splitlines()[1:] if line.strip())
        found = _FOUND[key] = Tesseract(path, m.group(1), languages)
    if language:
        missing = [code for code in language.split("+") if code not in found.languages]
        if missing:
            packages = " ".join(f"tesseract-ocr-{code.lower().replace('_', '-')}" for code in missing)
            raise OcrUnavailable(
                f"Tesseract has no data for language {', '.join(missing)} (installed: "
                f"{', '.join(sorted(found.languages)) or 'none'})",
                f"install it (Debian/Ubuntu: apt-get install {packages}) or set ingest.ocr_language, then ingest again",
            )
    return found


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout + done.stderr  # Tesseract 4 prints --version and --list-langs on stderr


# --------------------------------------------------------------------------------------------- rendering
def render_page(page, dpi: int = DEFAULT_OCR_DPI) -> tuple[bytes, float]:  # pypdfium2.PdfPage
    """``(png, scale)``: the page as a grayscale PNG and the pixels per PDF point it was rendered at
    (``dpi / 72``, less for a page that would exceed :data:`MAX_PIXELS`). The caller holds the PDFium lock."""
    width, height = page.get_size()  # points
    scale = dpi / 72
    if width * height * scale * scale > MAX_PIXELS:
        scale = math.sqrt(MAX_PIXELS / (width * height))
    bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
    try:
        image = bitmap.to_pil()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", dpi=(round(scale * 72),) * 2, compress_level=1)
    finally:
        bitmap.close()
    return buffer.getvalue(), scale


# ----------------------------------------------------------------------------------------------- reading
@dataclass
class OcrLine:
    """One line Tesseract read: words joined by spaces; box in pixels from the image's top left."""

    text: str
    left: int
    top: int
    right: int
    bottom: int
    x_size: float | None  # Tesseract's estimate of the line's font size, in pixels
    paragraph: str  # the id of its ocr_par: a change starts a new paragraph


def ocr_png(png: bytes, language: str, tesseract: Tesseract, timeout_s: float = 300.0) -> list[OcrLine]:
    """The lines of a page image (PNG bytes). Raises :class:`OcrError` when Tesseract fails or times out."""
    argv = [tesseract.path, "stdin", "stdout", "-l", language, "hocr"]
    # One thread: Tesseract's OpenMP threads barely help on one page and compete with the embedder.
    env = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}
    try:
        done = subprocess.run(argv, input=png, capture_output=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise OcrError(f"Tesseract took more than {timeout_s:.0f} s") from None
    except OSError as e:
        raise OcrError(f"Tesseract did not start ({e})") from None
    if done.returncode != 0:
        detail = " ".join(done.stderr.decode("utf-8", "replace").split())[-200:]
        raise OcrError(f"Tesseract exited with status {done.returncode} ({detail})")
    try:
        return parse_hocr(done.stdout.decode("utf-8", "replace"))
    except ET.ParseError as e:
        raise OcrError(f"Tesseract's hOCR output could not be read ({e})") from None


_BBOX = re.compile(r"bbox (\d+) (\d+) (\d+) (\d+)")
_X_SIZE = re.compile(r"x_size ([\d.]+)")
_WCONF = re.compile(r"x_wconf (\d+)")
_CLASS_LINE = {"ocr_line", "ocr_header", "ocr_caption", "ocr_textfloat"}


def parse_hocr(hocr: str) -> list[OcrLine]:
    """Lines of Tesseract's hOCR output, in its reading order, without lines of unsure non-text."""
    root = ET.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", hocr, count=1))
    lines: list[OcrLine] = []
    for par in root.iter():
        if _local(par.tag) != "p" or par.get("class") != "ocr_par":
            continue
        for line in par:
            if line.get("class") not in _CLASS_LINE:
                continue
            title = line.get("title", "")
            box = _BBOX.search(title)
            words: list[tuple[str, int]] = []
            for word in line:
                if word.get("class") == "ocrx_word":
                    text = "".join(word.itertext()).strip()
                    conf = _WCONF.search(word.get("title", ""))
                    if text:
                        words.append((text, int(conf.group(1)) if conf else 100))
            if not words or box is None:
                continue
            if not any(conf >= _MIN_CONFIDENCE and re.search(r"\w", text) for text, conf in words):
                continue  # speckles, a rule, the edge of a picture
            size = _X_SIZE.search(title)
            left, top, right, bottom = map(int, box.groups())
            lines.append(
                OcrLine(
                    " ".join(text for text, _ in words),
                    left, top, right, bottom,
                    float(size.group(1)) if size else None,
                    par.get("id", ""),
                )
            )
    return lines


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def page_ranges(pages: list[int]) -> str:
    """``"page 3"``, ``"pages 2-3, 7"``: 1-based page numbers as a reader writes them."""
    numbers = sorted(set(pages))
    parts: list[str] = []
    start = prev = None
    for n in [*numbers, None]:
        if start is not None and (n is None or n != prev + 1):
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = None
        if n is not None and start is None:
            start = n
        prev = n
    return f"{'page' if len(numbers) == 1 else 'pages'} {', '.join(parts)}"
