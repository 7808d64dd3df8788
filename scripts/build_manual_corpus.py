#!/usr/bin/env python3
"""Build a manual-shaped retrieval development corpus from a Debian ``-doc`` package.

The manual's text is not stored in the project.  ``benchmarks/data/NAME/`` holds only what we wrote:

* ``manual.json``: the Debian package and version, which HTML (and PDF) files of it form the corpus, and the id
  prefix of the questions;
* ``questions.jsonl``: one line per question, ``{"id", "question", "file", "kind", "gold_start", "gold_end",
  "gold_sha256"}``.  ``gold_start``/``gold_end`` are the first and last few words of the gold answer span (at
  most six each), enough to find the span again in the package's HTML; ``gold_sha256`` is the SHA-256 of the
  normalised gold (NFKC, casefold, letters and digits only) and proves the span found is the one written;
* ``split.json`` (``{"train": [...], "test": [...]}``) and ``README.md``.

This script downloads the package with ``apt-get download`` (or takes ``--deb``), unpacks it with ``dpkg-deb
-x``, and writes to ``--out`` (default ``/work/shared/data/NAME/``, or ``$RAG_DATA_DIR/NAME``):

* ``corpus/``: the chosen HTML pages copied unchanged, the PDF (gunzipped when the package ships it
  compressed), ``COPYRIGHT.txt`` (the package's copyright file) and ``SOURCE.txt``;
* ``questions.jsonl``: ``{"id", "question", "file", "gold", "kind"}`` per question, the layout of
  ``debian-reference/questions.jsonl``, so its ``score.py`` scores runs against it:
  ``score.py DIR/questions.jsonl RUN --split DIR/split.json --ids test``;
* ``split.json`` and ``README.md`` copied from the project.

Every gold is rebuilt from the HTML and checked as ``debian-reference/check_gold.py`` checks its golds (fields,
kinds, 60-600 characters, the normalised gold occurs exactly once in its file and in no other file, no other file
holds 60 % of its character 20-grams, the question text is not itself relevant to it, and the question does not
reuse the wording of any section or table title of the corpus), and the split is checked to be the fixed rule
(ids sorted, ``random.Random(0).shuffle``, the first third train).  Any failure makes the exit status 1.  When
``pdftotext`` is installed, it also reports (without failing) how many golds the PDF's text holds.

Standard library only (plus ``apt-get``/``dpkg-deb``).  Usage::

    python scripts/build_manual_corpus.py debian-policy [--out DIR] [--deb FILE.deb]

Writing questions: put drafts with the full gold text, ``{"id", "question", "file", "gold", "kind"}`` per line,
in a file outside the project and run ``--from-drafts DRAFTS.jsonl``: it checks them against the package and
writes ``benchmarks/data/NAME/questions.jsonl`` (anchors and hashes only) and ``split.json``.
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
KINDS = ("how-to", "troubleshooting", "what-is", "which-command", "why", "which-file")
N = 20  # character n-gram size of the relevance rule (debian-reference/score.py)
THRESHOLD = 0.6  # share of the gold's n-grams a chunk must contain to be relevant
ANCHOR_WORDS = 6
MIN_GOLD, MAX_GOLD = 60, 600
# stop words ignored by the title check (debian-reference/check_gold.py's list)
# fmt: off
STOP = frozenset([
    "a", "an", "the", "of", "and", "or", "to", "in", "on", "for", "with", "by", "from", "as", "at", "is",
    "are", "be", "this", "that", "these", "those", "it", "its", "your", "my", "via", "into", "using",
    "use", "how", "what", "which", "why", "when", "where", "do", "does", "can", "i", "you", "we", "not",
    "no", "all", "any", "other", "some",
])
# fmt: on
BLOCK = {
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "br",
    "caption",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
}  # fmt: skip
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def normalise(text: str) -> str:
    """NFKC, casefold, keep only letters and digits (the relevance rule's normalisation)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def grams(norm: str) -> set[str]:
    if len(norm) < N:
        return {norm} if norm else set()
    return {norm[i : i + N] for i in range(len(norm) - N + 1)}


def sha(norm: str) -> str:
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ HTML text


class Visible(HTMLParser):
    """The visible text of a page (script and style skipped), with block structure, and its titles.

    Blocks end lines, table cells are joined by `` | ``, text inside ``pre`` keeps its lines, other whitespace
    is collapsed.  The letters and digits are exactly those of check_gold.py's extraction, so the normalised
    text is the same.  Titles are headings, ``p.title`` (DocBook) and table/figure captions.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.cell_in_row = 0
        self.title_tag: str | None = None
        self.title_parts: list[str] = []
        self.titles: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        if tag in BLOCK:
            self.out.append("\n")
        if tag == "pre":
            self.pre += 1
        if tag == "tr":
            self.cell_in_row = 0
        if tag in ("td", "th"):
            if self.cell_in_row:
                self.out.append(" | ")
            self.cell_in_row += 1
        if self.title_tag is None:
            cls = (dict(attrs).get("class") or "").split()
            if tag in HEADINGS or tag == "caption" or (tag == "p" and ("title" in cls or "rubric" in cls)):
                self.title_tag = tag
                self.title_parts = []

    def handle_startendtag(self, tag, attrs):
        if tag in BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        if tag == "pre" and self.pre:
            self.pre -= 1
        if tag in BLOCK:
            self.out.append("\n")
        if tag == self.title_tag:
            title = " ".join("".join(self.title_parts).split()).rstrip("¶").strip()
            if title:
                self.titles.append(title)
            self.title_tag = None

    def handle_data(self, data):
        if self.skip:
            return
        if self.pre:
            self.out.append(data.replace("\n", "\x00"))  # a line break inside pre, kept through the collapse
        else:
            self.out.append(" ".join(data.split("\n")))
        if self.title_tag is not None:
            self.title_parts.append(data)

    def text(self) -> str:
        lines = []
        for line in "".join(self.out).split("\n"):
            for part in line.split("\x00"):
                part = " ".join(part.split())
                if part:
                    lines.append(part)
        return "\n".join(lines)


class Page:
    """One corpus page: its visible text, the normalised text with a map back, its n-grams and titles."""

    def __init__(self, name: str, html: str) -> None:
        parser = Visible()
        parser.feed(html)
        parser.close()
        self.name = name
        self.text = parser.text()
        self.titles = parser.titles
        norm, where = [], []
        for i, ch in enumerate(self.text):
            for c in normalise(ch):
                norm.append(c)
                where.append(i)
        self.norm = "".join(norm)
        self.where = where
        self.grams = grams(self.norm)

    def span(self, i: int, j: int) -> str:
        """The visible text behind normalised positions [i, j), tidied as a gold passage."""
        start, end = self.where[i], self.where[j - 1] + 1
        # take in the punctuation glued to the first and last word: "(", "/", a closing ".)" or quote
        while start > 0 and not self.text[start - 1].isspace() and not self.text[start - 1].isalnum():
            start -= 1
        while end < len(self.text) and not self.text[end].isspace() and not self.text[end].isalnum():
            end += 1
        raw = self.text[start:end]
        return "\n".join(line.strip(" |") for line in raw.split("\n") if line.strip(" |"))


def occurrences(hay: str, needle: str) -> list[int]:
    out, k = [], hay.find(needle)
    while k >= 0:
        out.append(k)
        k = hay.find(needle, k + 1)
    return out


def anchors(gold: str) -> tuple[str, str]:
    """The first and last words of a gold, at most six each and about a quarter of its words."""
    words = gold.split()
    n = min(ANCHOR_WORDS, max(2, len(words) // 4))
    return " ".join(words[:n]), " ".join(words[-n:])


def rebuild(page: Page, start: str, end: str, digest: str) -> str | None:
    """The span of ``page`` from ``start`` to ``end`` whose normalised text hashes to ``digest``."""
    s, e = normalise(start), normalise(end)
    if not s or not e:
        return None
    for i in occurrences(page.norm, s):
        for j in occurrences(page.norm[i:], e):
            stop = i + j + len(e)
            if stop < i + len(s):
                continue
            if stop - i > 4 * MAX_GOLD:
                break
            if sha(page.norm[i:stop]) == digest:
                return page.span(i, stop)
    return None


# ----------------------------------------------------------------- the checks


def title_words(title: str) -> list[str]:
    title = re.sub(r"^(chapter|table|appendix)\s+", "", title, flags=re.I)
    title = re.sub(r"^[0-9a-z]+(\.[0-9]+)*\.\s+", "", title, flags=re.I)
    return re.findall(r"[a-z0-9]+", title.casefold())


def title_problem(question: str, titles: list[str]) -> str | None:
    """check_gold.py's rule: no whole title of 2+ words, no 3 consecutive title words (stop words ignored)."""
    qc = [w for w in re.findall(r"[a-z0-9]+", question.casefold()) if w not in STOP]

    def occurs(run):
        return any(qc[k : k + len(run)] == run for k in range(len(qc) - len(run) + 1))

    for title in titles:
        tc = [w for w in title_words(title) if w not in STOP]
        if len(tc) >= 2 and occurs(tc):
            return f"reuses title {title!r}"
        for i in range(len(tc) - 2):
            for j in range(len(tc), i + 2, -1):
                if occurs(tc[i:j]):
                    return f"shares {' '.join(tc[i:j])!r} with title {title!r}"
    return None


def check_record(rec: dict, pages: dict[str, Page], titles: list[str]) -> list[str]:
    tag = rec.get("id", "?")
    fails = []
    if rec.get("kind") not in KINDS:
        fails.append(f"{tag}: bad kind {rec.get('kind')!r}")
    fname, gold, question = rec.get("file"), rec.get("gold") or "", rec.get("question") or ""
    if fname not in pages:
        return fails + [f"{tag}: unknown file {fname!r}"]
    if not MIN_GOLD <= len(gold) <= MAX_GOLD:
        fails.append(f"{tag}: gold length {len(gold)}")
    g = normalise(gold)
    if not g:
        return fails + [f"{tag}: empty gold"]
    count = pages[fname].norm.count(g)
    if count != 1:
        fails.append(f"{tag}: gold found {count} times in {fname}")
    others = [n for n, p in pages.items() if n != fname and g in p.norm]
    if others:
        fails.append(f"{tag}: gold also in {', '.join(others)}")
    gg = grams(g)
    for name, page in pages.items():
        if name != fname:
            cover = len(gg & page.grams) / len(gg)
            if cover >= THRESHOLD:
                fails.append(f"{tag}: {100 * cover:.0f}% of gold 20-grams also in {name}")
    if len(gg & grams(normalise(question))) / len(gg) >= THRESHOLD:
        fails.append(f"{tag}: question text is relevant to its own gold")
    problem = title_problem(question, titles)
    if problem:
        fails.append(f"{tag}: question {problem}")
    return fails


def max_other_cover(rec: dict, pages: dict[str, Page]) -> tuple[float, str]:
    gg = grams(normalise(rec["gold"]))
    best = (0.0, "")
    for name, page in pages.items():
        if name != rec["file"]:
            best = max(best, (len(gg & page.grams) / len(gg), name))
    return best


def make_split(ids: list[str]) -> dict[str, list[str]]:
    order = sorted(ids)
    random.Random(0).shuffle(order)
    n_train = len(order) // 3
    return {"train": sorted(order[:n_train]), "test": sorted(order[n_train:])}


# ------------------------------------------------------------------- package


def fetch_package(manual: dict, deb: str | None, workdir: Path) -> Path:
    """Unpack the package into ``workdir/root`` and return that folder."""
    if deb is None:
        spec = f"{manual['package']}={manual['version']}"
        cmd = ["apt-get", "download", spec]
        done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(
                f"`{' '.join(cmd)}` failed:\n{done.stderr.strip()}\n"
                "Run `apt-get update` first, or download the .deb yourself and pass --deb FILE.deb."
            )
        debs = sorted(workdir.glob(f"{manual['package']}_*.deb"))
        if not debs:
            sys.exit(f"apt-get download left no {manual['package']}_*.deb in {workdir}")
        deb = str(debs[0])
    root = workdir / "root"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True)
    version = subprocess.run(
        ["dpkg-deb", "-f", deb, "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    if version != manual["version"]:
        print(f"warning: {deb} is version {version}, the questions were written on {manual['version']}")
    return root


def select_html(manual: dict, root: Path) -> list[Path]:
    html_dir = root / manual["html_dir"]
    names = sorted(p.name for p in html_dir.iterdir() if p.is_file())
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, pat) for pat in manual["html_files"])]
    if not chosen:
        sys.exit(f"no HTML file of {html_dir} matches {manual['html_files']}")
    return [html_dir / n for n in chosen]


def copy_corpus(manual: dict, root: Path, html: list[Path], out: Path) -> list[str]:
    corpus = out / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    copied = []
    for path in html:
        shutil.copyfile(path, corpus / path.name)
        copied.append(path.name)
    pdf = manual.get("pdf")
    if pdf:
        src = root / pdf
        dest = corpus / manual.get("pdf_name", Path(pdf).name.removesuffix(".gz"))
        if src.suffix == ".gz":
            with gzip.open(src, "rb") as fin, open(dest, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            shutil.copyfile(src, dest)
        copied.append(dest.name + (" (gunzipped from " + src.name + ")" if src.suffix == ".gz" else ""))
    shutil.copyfile(root / manual["copyright"], corpus / "COPYRIGHT.txt")
    lines = [
        f"Debian 12 (bookworm) package {manual['package']}, version {manual['version']}"
        f" (source package {manual.get('source', manual['package'])}).",
        f"Manual: {manual['title']}. Licence: {manual['licence']} (see COPYRIGHT.txt, the package's copyright file).",
        f"Copied unchanged from /{manual['html_dir']}/ and /{Path(pdf).parent if pdf else ''}:",
        *(f"  {c}" for c in copied),
        "Rebuilt by scripts/build_manual_corpus.py of the rag-app project.",
    ]
    (corpus / "SOURCE.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return copied


def pdf_report(records: list[dict], pdf: Path) -> str | None:
    """How many golds the PDF's text (pdftotext) holds 60 % of, and which do not."""
    if not shutil.which("pdftotext") or not pdf.exists():
        return None
    done = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True)
    if done.returncode != 0:
        return f"pdftotext failed: {done.stderr.strip()[:200]}"
    pg = grams(normalise(done.stdout))
    low = []
    for rec in records:
        gg = grams(normalise(rec["gold"]))
        cover = len(gg & pg) / len(gg)
        if cover < THRESHOLD:
            low.append(f"{rec['id']} ({100 * cover:.0f}%)")
    return (
        f"PDF: {len(records) - len(low)}/{len(records)} golds have >= 60% of their 20-grams in the PDF's text"
        + (f"; not: {', '.join(low)}" if low else "")
    )


# ---------------------------------------------------------------------- main


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def load_pages(html: list[Path]) -> dict[str, Page]:
    return {p.name: Page(p.name, p.read_text(encoding="utf-8")) for p in html}


def summary(records: list[dict], split: dict) -> list[str]:
    kinds, files = {}, {}
    for rec in records:
        kinds[rec["kind"]] = kinds.get(rec["kind"], 0) + 1
        files[rec["file"]] = files.get(rec["file"], 0) + 1
    train = set(split["train"])
    return [
        f"questions: {len(records)} (train {len(split['train'])}, test {len(split['test'])})",
        "kinds: " + ", ".join(f"{k}={kinds[k]}" for k in KINDS if k in kinds),
        "train kinds: "
        + ", ".join(f"{k}={sum(1 for r in records if r['kind'] == k and r['id'] in train)}" for k in KINDS),
        "files: " + ", ".join(f"{k}={v}" for k, v in sorted(files.items())),
    ]


def from_drafts(name: str, drafts: Path, pages: dict[str, Page], titles: list[str]) -> int:
    """Check full-text drafts and write the project's anchor file and split."""
    records = read_jsonl(drafts)
    fails, out = [], []
    ids = [r.get("id") for r in records]
    if len(set(ids)) != len(ids):
        fails.append("duplicate ids")
    for rec in records:
        fails += check_record(rec, pages, titles)
        start, end = anchors(rec["gold"])
        digest = sha(normalise(rec["gold"]))
        page = pages.get(rec["file"])
        if page is not None and rebuild(page, start, end, digest) is None:
            fails.append(f"{rec['id']}: the anchors do not rebuild the gold")
        out.append(
            {"id": rec["id"], "question": rec["question"], "file": rec["file"], "kind": rec["kind"],
             "gold_start": start, "gold_end": end, "gold_sha256": digest}
        )  # fmt: skip
    for msg in fails:
        print("FAIL", msg)
    print(f"{len(fails)} failures")
    if fails:
        return 1
    data = DATA / name
    write_jsonl(data / "questions.jsonl", out)
    split = make_split(ids)
    (data / "split.json").write_text(json.dumps(split, indent=1) + "\n", encoding="utf-8")
    print("\n".join(summary(records, split)))
    print(f"wrote {data / 'questions.jsonl'} and {data / 'split.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", help="a folder of benchmarks/data/ (e.g. debian-policy)")
    ap.add_argument("--out", type=Path, help="output folder (default: /work/shared/data/NAME)")
    ap.add_argument("--deb", help="use this .deb instead of `apt-get download`")
    ap.add_argument("--from-drafts", type=Path, help="draft questions with full golds: write the anchor file")
    ap.add_argument(
        "--dump", type=Path, help="also write each page's visible text to this folder (authoring)"
    )
    args = ap.parse_args(argv)

    data = DATA / args.name
    if not (data / "manual.json").exists():
        sys.exit(f"no {data / 'manual.json'}")
    manual = json.loads((data / "manual.json").read_text(encoding="utf-8"))
    base = os.environ.get("RAG_DATA_DIR", "/work/shared/data")
    out = args.out or Path(base) / args.name

    with tempfile.TemporaryDirectory(prefix="manual-corpus-") as tmp:
        root = fetch_package(manual, args.deb, Path(tmp))
        html = select_html(manual, root)
        pages = load_pages(html)
        titles = [t for p in pages.values() for t in p.titles]
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            for page in pages.values():
                (args.dump / (page.name + ".txt")).write_text(page.text, encoding="utf-8")
        if args.from_drafts:
            return from_drafts(args.name, args.from_drafts, pages, titles)
        out.mkdir(parents=True, exist_ok=True)
        copy_corpus(manual, root, html, out)

    fails = []
    records, written = read_jsonl(data / "questions.jsonl"), []
    seen = set()
    prefix = manual["id_prefix"]
    for rec in records:
        qid = rec.get("id", "?")
        want = {"id", "question", "file", "kind", "gold_start", "gold_end", "gold_sha256"}
        if set(rec) != want:
            fails.append(f"{qid}: fields {sorted(rec)}")
            continue
        if not re.fullmatch(re.escape(prefix) + r"\d{3}", qid) or qid in seen:
            fails.append(f"{qid}: bad or duplicate id")
        seen.add(qid)
        page = pages.get(rec["file"])
        gold = rebuild(page, rec["gold_start"], rec["gold_end"], rec["gold_sha256"]) if page else None
        if gold is None:
            fails.append(
                f"{qid}: gold not found in {rec['file']} (anchors or hash do not match this package)"
            )
            continue
        full = {
            "id": qid,
            "question": rec["question"],
            "file": rec["file"],
            "gold": gold,
            "kind": rec["kind"],
        }
        fails += check_record(full, pages, titles)
        written.append(full)

    split = json.loads((data / "split.json").read_text(encoding="utf-8"))
    if split != make_split([r["id"] for r in records]):
        fails.append(
            "split.json is not the fixed split of the ids (sorted, Random(0).shuffle, first third train)"
        )
    write_jsonl(out / "questions.jsonl", written)
    shutil.copyfile(data / "split.json", out / "split.json")
    shutil.copyfile(data / "README.md", out / "README.md")

    print(f"corpus: {len(pages)} HTML files in {out / 'corpus'}")
    print("\n".join(summary(written, split)))
    if written:
        worst = max(max_other_cover(r, pages) + (r["id"],) for r in written)
        print(
            f"highest share of a gold's 20-grams in another file: {100 * worst[0]:.0f}% ({worst[2]} in {worst[1]})"
        )
    pdf = manual.get("pdf")
    if pdf:
        report = pdf_report(
            written, out / "corpus" / manual.get("pdf_name", Path(pdf).name.removesuffix(".gz"))
        )
        if report:
            print(report)
    for msg in fails:
        print("FAIL", msg)
    print(f"{len(fails)} failures")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
