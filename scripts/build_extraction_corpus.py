#!/usr/bin/env python3
"""Build the extraction benchmark's corpus (issue 12 §1) from Debian bookworm packages.

Each document comes from a Debian package (``apt-get download`` then ``dpkg-deb -x`` into a temporary
folder: nothing is installed), and goes into ``OUT/docs/<set>/...`` with an independent *reference*
extraction of its text in ``OUT/reference/<set>/<name>.txt``:

* HTML: ``w3m -dump -cols 1000`` (wide, so that a paragraph or a table row stays on one line); beside
  it, ``<name>.links.txt`` is the same dump of the page with the text of every link within the site
  (``a[href]`` with a relative or ``#`` target: navigation; links to other sites are references, i.e. body
  text; nor a permalink to the element holding it) wrapped in U+E000/U+E001 and the text of every ``<nav>`` or ``role="navigation"`` element in U+E002/U+E003
  (markers added with lxml before w3m runs; without them it is the same text, give or take white space),
  so that the benchmark can tell link-only lines and navigation from body text without our loader's
  heuristics;
* PDF: ``pdftotext -layout`` (poppler), pages separated by form feeds.

``OUT/manifest.json`` names every document: its set, generator, format, package and version, the path
it came from, how it was rendered (for man pages and PDFs printed here) and its reference file.

Document sets, a few pages each (about 10 MB in all):

=================  =================  ===============================================================
generator          package            documents
=================  =================  ===============================================================
sphinx             python3.11-doc     tutorial and how-to pages, library/enum, compound statements
                                      (howto/urllib2 and library/enum hold Sphinx ``div.sidebar``\\ s)
docbook            debian-reference-en  four chapters of the Debian Reference
docbook            maint-guide        five chapters of the Debian New Maintainers' Guide
texinfo            gnu-standards      the GNU Coding Standards and Information for Maintainers
                                      (makeinfo, one page each)
texinfo            gettext-doc        four chapters of the gettext manual (texi2html, one per node)
doxygen            lmdb-doc           five pages of the LMDB API docs
javadoc            libcommons-lang3-java-doc  four class pages
mkdocs             mkdocs-doc         five pages of MkDocs' own documentation
man-html           manpages           five man pages rendered with ``mandoc -Thtml`` (``groff -Thtml``
                                      turns tables with rules into PNG images, losing their text)
latex-pdf          maint-guide, gnu-standards, debian-policy  dblatex, texinfo TeX and Sphinx
                                      LaTeX PDFs, as shipped
libreoffice-pdf    maint-guide, debian-policy, debian-reference-en  HTML pages opened in Writer and
                                      exported (``soffice --headless --convert-to pdf``); no package
                                      of this set ships an .odt/.docx
chromium-pdf       python3.11-doc, mkdocs-doc, maint-guide  HTML pages printed by headless Chromium
                                      with its default header (date, title) and footer (URL, page)
=================  =================  ===============================================================

``debian-faq`` and ``debian-handbook`` are reserved for independent checks and never used.

Idempotent: a document whose file and reference are both there is kept as it is (``--force`` redoes
everything); the manifest is rewritten each run. Missing tools (w3m, poppler-utils, mandoc, chromium,
libreoffice-writer-nogui) are installed with ``apt-get`` when run as root; otherwise the script says
which package to install. ``--no-libreoffice`` skips the LibreOffice set (its install is about 150 MB).

Usage::

    .venv/bin/python scripts/build_extraction_corpus.py [--out DIR] [--force] [--no-libreoffice]

Default ``--out``: ``../shared/data/extraction-corpus`` beside the repository.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO.parent / "shared" / "data" / "extraction-corpus"
RESERVED = frozenset({"debian-faq", "debian-handbook"})
W3M = ["w3m", "-dump", "-cols", "1000", "-T", "text/html", "-I", "UTF-8", "-O", "UTF-8"]
TOOL_TIMEOUT = 300

console = Console()


@dataclass(frozen=True)
class Doc:
    """One document: ``path`` inside the package (relative to the set's ``root``) and how it is made."""

    set: str
    generator: str
    package: str
    root: str
    path: str
    make: str = "copy"  # copy | gunzip | man-html | libreoffice | chromium
    name: str | None = None  # file name in docs/<set>/, default: path (or path + ".pdf"/".html")

    @property
    def out_name(self) -> str:
        if self.name:
            return self.name
        if self.make == "gunzip":
            return self.path.removesuffix(".gz")
        if self.make == "man-html":
            return Path(self.path.removesuffix(".gz")).name + ".html"
        if self.make in ("libreoffice", "chromium"):
            return Path(self.path).stem + ".pdf"
        return self.path

    @property
    def format(self) -> str:
        return "pdf" if self.out_name.endswith(".pdf") else "html"

    @property
    def id(self) -> str:
        return f"{self.set}/{self.out_name}"


def _set(set_id: str, generator: str, package: str, root: str, paths: list[str], make: str = "copy") -> list[Doc]:
    return [Doc(set_id, generator, package, root, p, make) for p in paths]


PY = "usr/share/doc/python3.11/html"
DREF = "usr/share/debian-reference"
MG = "usr/share/doc/maint-guide"
MK = "usr/share/doc/mkdocs/html"
DOCS: list[Doc] = [
    *_set("python-docs", "sphinx", "python3.11-doc", PY, [
        "tutorial/controlflow.html", "tutorial/errors.html", "howto/urllib2.html", "library/enum.html",
        "reference/compound_stmts.html"]),
    *_set("debian-reference", "docbook", "debian-reference-en", DREF, [
        "ch03.en.html", "ch04.en.html", "ch06.en.html", "ch08.en.html"]),
    *_set("maint-guide", "docbook", "maint-guide", f"{MG}/html", [
        "start.en.html", "first.en.html", "dreq.en.html", "modify.en.html", "checkit.en.html"]),
    *_set("gnu-standards", "texinfo", "gnu-standards", "usr/share/doc/gnu-standards", [
        "standards.html", "maintain.html"]),
    *_set("gettext", "texinfo", "gettext-doc", "usr/share/doc/gettext", [
        "gettext_7.html", "gettext_8.html", "gettext_11.html", "gettext_13.html"]),
    *_set("lmdb", "doxygen", "lmdb-doc", "usr/share/doc/lmdb-doc/html", [
        "group__mdb.html", "group__errors.html", "group__mdb__put.html", "group__readers.html", "starting.html"]),
    *_set("commons-lang3", "javadoc", "libcommons-lang3-java-doc",
          "usr/share/doc/libcommons-lang3-java/api/org/apache/commons/lang3", [
              "Validate.html", "Range.html", "CharUtils.html", "JavaVersion.html"]),
    *_set("mkdocs", "mkdocs", "mkdocs-doc", MK, [
        "getting-started.html", "user-guide/writing-your-docs.html", "user-guide/configuration.html",
        "user-guide/deploying-your-docs.html", "dev-guide/themes.html"]),
    *_set("man-pages", "man-html", "manpages", "usr/share/man", [
        "man7/signal.7.gz", "man7/socket.7.gz", "man7/pipe.7.gz", "man7/epoll.7.gz", "man5/elf.5.gz"], "man-html"),
    Doc("latex-pdf", "latex-pdf", "maint-guide", MG, "maint-guide.en.pdf"),
    Doc("latex-pdf", "latex-pdf", "gnu-standards", "usr/share/doc/gnu-standards", "standards.pdf.gz", "gunzip"),
    Doc("latex-pdf", "latex-pdf", "debian-policy", "usr/share/doc/debian-policy", "policy.pdf.gz", "gunzip"),
    Doc("libreoffice-pdf", "libreoffice-pdf", "maint-guide", f"{MG}/html", "update.en.html", "libreoffice"),
    # (Writer refuses the python3.11-doc pages: "source file could not be loaded"; Debian Policy is Sphinx too)
    Doc("libreoffice-pdf", "libreoffice-pdf", "debian-policy", "usr/share/doc/debian-policy/policy.html",
        "ch-binary.html", "libreoffice"),
    Doc("libreoffice-pdf", "libreoffice-pdf", "debian-reference-en", DREF, "ch05.en.html", "libreoffice"),
    Doc("chromium-pdf", "chromium-pdf", "python3.11-doc", PY, "tutorial/classes.html", "chromium"),
    Doc("chromium-pdf", "chromium-pdf", "mkdocs-doc", MK, "user-guide/customizing-your-theme.html", "chromium"),
    Doc("chromium-pdf", "chromium-pdf", "maint-guide", f"{MG}/html", "build.en.html", "chromium"),
]
if {d.package for d in DOCS} & RESERVED:  # reserved for independent checks (issue 12)
    raise RuntimeError("debian-faq and debian-handbook must not be used")

# tool -> (Debian package, needed by which ``make``/format; None: always)
TOOLS = {
    "apt-get": ("apt", None),
    "dpkg-deb": ("dpkg", None),
    "w3m": ("w3m", None),
    "pdftotext": ("poppler-utils", None),
    "mandoc": ("mandoc", "man-html"),
    "chromium": ("chromium", "chromium"),
    "soffice": ("libreoffice-writer-nogui", "libreoffice"),
}


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, timeout=TOOL_TIMEOUT, **kwargs)
    except subprocess.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip()[-800:]
        raise SystemExit(f"command failed ({e.returncode}): {' '.join(cmd)}\n{err}") from e


def _have(tool: str) -> bool:
    return shutil.which(tool) is not None


def ensure_tools(makes: set[str]) -> set[str]:
    """Install what is missing (as root); returns the ``make`` kinds that cannot be done."""
    missing = {tool: pkg for tool, (pkg, need) in TOOLS.items() if (need is None or need in makes) and not _have(tool)}
    if not missing:
        return set()
    packages = sorted(set(missing.values()))
    if os.geteuid() != 0:
        console.print(f"[red]missing tools {', '.join(missing)}[/]: run as root, or "
                      f"`sudo apt-get install {' '.join(packages)}`, then run this again")
    else:
        console.print(f"installing {' '.join(packages)} with apt-get ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
        r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                           capture_output=True, env=env)
        if r.returncode:
            console.print(f"[red]apt-get install failed[/]: {r.stderr.decode(errors='replace')[-500:]}")
    still = {tool for tool in missing if not _have(tool)}
    fatal = [t for t in still if TOOLS[t][1] is None]
    if fatal:
        raise SystemExit(f"cannot go on without {', '.join(fatal)} (apt-get install {' '.join(TOOLS[t][0] for t in fatal)})")
    skipped = {TOOLS[t][1] for t in still}
    for make in skipped:
        console.print(f"[yellow]skipping the {make} documents[/]: {make} is not available")
    return {m for m in skipped if m}


def download(packages: list[str], work: Path) -> dict[str, tuple[Path, str]]:
    """``apt-get download`` each package and extract it; returns ``{package: (root folder, version)}``."""
    debs = work / "debs"
    debs.mkdir()
    os.chmod(debs, 0o777)  # apt's _apt user downloads into it
    _run(["apt-get", "download", *packages], cwd=debs)
    out = {}
    for deb in sorted(debs.glob("*.deb")):
        name = _run(["dpkg-deb", "-f", str(deb), "Package"]).stdout.decode().strip()
        version = _run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.decode().strip()
        root = work / "x" / name
        root.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        out[name] = (root, version)
    if missing := set(packages) - set(out):
        raise SystemExit(f"apt-get download gave nothing for {', '.join(sorted(missing))}")
    return out


def tool_version(tool: str) -> str:
    if tool == "mandoc":  # mandoc has no --version; its Debian package says
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "mandoc"], capture_output=True, timeout=60)
        return f"mandoc {r.stdout.decode().strip()}"
    cmd = {"chromium": ["chromium", "--version"], "soffice": ["soffice", "--version"]}[tool]
    r = subprocess.run(cmd, capture_output=True, timeout=60)
    return r.stdout.decode(errors="replace").strip().splitlines()[0] if r.stdout else tool


def make_document(doc: Doc, src: Path, dest: Path, work: Path) -> str | None:
    """Write ``doc`` to ``dest``; returns how it was rendered (None for a plain copy)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if doc.make == "copy":
        shutil.copyfile(src, dest)
        return None
    if doc.make == "gunzip":
        with gzip.open(src) as f:
            dest.write_bytes(f.read())
        return None
    if doc.make == "man-html":
        with gzip.open(src) as f:
            source = f.read()
        html = _run(["mandoc", "-Thtml"], input=source, cwd=work).stdout
        dest.write_bytes(html)
        return f"{tool_version('mandoc')}: mandoc -Thtml"
    if doc.make == "chromium":
        profile = work / "chromium-profile"
        _run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
              f"--print-to-pdf={dest}", src.as_uri()])
        return f"{tool_version('chromium')}: --headless --print-to-pdf (default header and footer)"
    if doc.make == "libreoffice":
        outdir = work / "soffice-out"
        outdir.mkdir(exist_ok=True)
        _run(["soffice", "--headless", "--norestore", f"-env:UserInstallation={(work / 'lo-profile').as_uri()}",
              "--infilter=HTML (StarWriter)", "--convert-to", "pdf:writer_pdf_Export", "--outdir", str(outdir), str(src)])
        made = outdir / (src.stem + ".pdf")
        if not made.exists():  # soffice exits 0 when it cannot load a file
            raise SystemExit(f"soffice made no PDF of {src}")
        shutil.move(made, dest)
        return f"{tool_version('soffice')}: Writer, soffice --headless --convert-to pdf"
    raise ValueError(doc.make)


LINK_OPEN, LINK_CLOSE, NAV_OPEN, NAV_CLOSE = "\ue000", "\ue001", "\ue002", "\ue003"
_EXTERNAL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")  # a URL scheme: http:, https:, ftp:, mailto:...


def _wrap(element, opening: str, closing: str) -> None:
    element.text = opening + (element.text or "")
    if len(element):
        element[-1].tail = (element[-1].tail or "") + closing
    else:
        element.text += closing


def _permalink(element, href: str) -> bool:
    """A link to the element that holds it (mandoc's ``<dt id=X><a href="#X">term</a>``, Sphinx's ``¶``):
    the term itself, not navigation."""
    if not href.startswith("#"):
        return False
    for e in (element, *element.iterancestors()):  # the nearest element with an id is the one it names
        if e.get("id") or e.get("name"):
            return href[1:] in (e.get("id"), e.get("name"))
    return False


def marked_html(doc_file: Path) -> bytes:
    """The page with link text and navigation text wrapped in private-use markers (see the docstring)."""
    import lxml.html

    root = lxml.html.parse(str(doc_file)).getroot()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        href = (element.get("href") or "").strip() if element.tag == "a" else ""
        if href and not _EXTERNAL.match(href) and not _permalink(element, href):
            _wrap(element, LINK_OPEN, LINK_CLOSE)
        if element.tag == "nav" or element.get("role") == "navigation":
            _wrap(element, NAV_OPEN, NAV_CLOSE)
    return lxml.html.tostring(root, encoding="utf-8", method="html", doctype="<!DOCTYPE html>")


def make_reference(doc_file: Path, fmt: str, dest: Path) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf":
        _run(["pdftotext", "-layout", "-enc", "UTF-8", str(doc_file), str(dest)])
        return "pdftotext -layout"
    dest.write_bytes(_run([*W3M, str(doc_file)]).stdout)
    links = dest.with_name(dest.name.removesuffix(".txt") + ".links.txt")
    links.write_bytes(_run(W3M, input=marked_html(doc_file)).stdout)
    return " ".join(W3M[:4])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--force", action="store_true", help="rebuild every document and reference")
    parser.add_argument("--no-libreoffice", action="store_true", help="skip the LibreOffice-made PDFs")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    manifest_path = out / "manifest.json"
    old = {}
    if manifest_path.exists() and not args.force:
        old = {d["id"]: d for d in json.loads(manifest_path.read_text())["documents"]}

    docs = [d for d in DOCS if not (args.no_libreoffice and d.make == "libreoffice")]

    def paths(doc: Doc) -> tuple[Path, Path]:
        return out / "docs" / doc.set / doc.out_name, out / "reference" / doc.set / (doc.out_name + ".txt")

    todo = [d for d in docs if args.force or d.id not in old or not all(p.exists() for p in paths(d))]
    console.print(f"extraction corpus in {out}: {len(docs)} documents, {len(docs) - len(todo)} already built")
    skipped_makes = ensure_tools({d.make for d in todo}) if todo else set()
    todo = [d for d in todo if d.make not in skipped_makes]
    entries = {i: e for i, e in old.items() if any(d.id == i for d in docs)}
    if todo:
        with tempfile.TemporaryDirectory(prefix="extraction-corpus-") as tmp:
            work = Path(tmp)
            packages = sorted({d.package for d in todo})
            console.print(f"downloading {len(packages)} packages: {' '.join(packages)}")
            extracted = download(packages, work)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("documents", total=len(todo))
                for doc in todo:
                    progress.update(task, description=f"{doc.generator:16} {doc.id}")
                    root, version = extracted[doc.package]
                    src = root / doc.root / doc.path
                    if not src.exists():
                        raise SystemExit(f"{doc.package} {version} has no {doc.root}/{doc.path}")
                    doc_file, ref_file = paths(doc)
                    rendered = make_document(doc, src, doc_file, work)
                    tool = make_reference(doc_file, doc.format, ref_file)
                    entries[doc.id] = {
                        "id": doc.id,
                        "set": doc.set,
                        "generator": doc.generator,
                        "format": doc.format,
                        "package": doc.package,
                        "version": version,
                        "package_path": f"/{doc.root}/{doc.path}",
                        "rendered_by": rendered,
                        "document": doc_file.relative_to(out).as_posix(),
                        "reference": ref_file.relative_to(out).as_posix(),
                        "reference_tool": tool,
                        "reference_links": (ref_file.with_name(ref_file.name.removesuffix(".txt") + ".links.txt")
                                            .relative_to(out).as_posix() if doc.format == "html" else None),
                    }
                    progress.advance(task)
    order = {d.id: i for i, d in enumerate(DOCS)}
    documents = sorted(entries.values(), key=lambda e: order.get(e["id"], len(order)))
    manifest = {
        "description": "Extraction benchmark corpus (issue 12 section 1); built by scripts/build_extraction_corpus.py",
        "documents": documents,
    }
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    by_generator: dict[str, int] = {}
    for e in documents:
        by_generator[e["generator"]] = by_generator.get(e["generator"], 0) + 1
    console.print(f"[green]{len(documents)} documents[/] ({size / 1e6:.1f} MB) in {out}: "
                  + ", ".join(f"{g} {n}" for g, n in by_generator.items()))
    if missing := [d.id for d in docs if d.id not in entries]:
        console.print(f"[yellow]not built[/]: {', '.join(missing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
