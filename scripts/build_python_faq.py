#!/usr/bin/env python3
"""Build the python-faq development dataset from Debian's ``python3.11-doc``.

The dataset format is described in ``data/python-faq/README.md`` (shared data):

* ``qa.jsonl``: one record per FAQ entry,
  ``{"id": "<page>#<anchor>", "source": "<page>.html", "question", "answer"}``.
  An entry is every ``<section>`` inside ``div[role=main]`` that has no
  sub-sections; its heading is the question, the rest of the section is the
  answer (plain text; sections with an empty answer are skipped).
* ``qa.train.jsonl`` / ``qa.test.jsonl``: the split; an entry goes to test if
  ``int(sha256(id).hexdigest()[:8], 16) % 100 < 20``.  Entries with identical
  answer text follow the first one's bucket.
* ``pairs.train.jsonl``, ``triplets.train.jsonl``, ``scored.train.jsonl``:
  training files built from train entries only, with random negatives seeded
  per id (so every JSONL file is byte-identical across runs).
* ``corpus/<page>.html``: the FAQ pages copied unchanged, plus PDFs rendered by
  ``wkhtmltopdf`` when it is installed (skipped otherwise or with ``--no-pdf``).
* ``LICENSE.html``, ``LICENSE.txt``, ``COPYRIGHT.txt``: the licence files from
  the same package.

Only the standard library is used.  Usage::

    apt-get install python3.11-doc
    python scripts/build_python_faq.py --out data/python-faq [--no-pdf]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

DEFAULT_HTML_DIR = Path("/usr/share/doc/python3.11/html/faq")

# Page order of the FAQ index (faq/index.html).
PAGE_ORDER = (
    "general",
    "programming",
    "design",
    "library",
    "extending",
    "windows",
    "gui",
    "installed",
)
PDF_PAGES = ("general", "extending")

# (destination, source relative to the html root, i.e. the faq dir's parent)
LICENCE_FILES = (
    ("LICENSE.html", "license.html"),
    ("LICENSE.txt", "_sources/license.rst.txt"),
    ("COPYRIGHT.txt", "_sources/copyright.rst.txt"),
)

TEST_PERCENT = 20
N_TRIPLET_NEGATIVES = 3

VOID_TAGS = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Elements whose content is laid out as separate blocks (paragraphs).
BLOCK_TAGS = (
    frozenset(
        {
            "p",
            "div",
            "section",
            "blockquote",
            "dl",
            "dt",
            "dd",
            "table",
            "thead",
            "tbody",
            "tr",
            "figure",
            "figcaption",
            "aside",
            "nav",
            "header",
            "footer",
            "article",
            "main",
            "address",
            "hr",
            "caption",
        }
    )
    | HEADING_TAGS
)
SKIP_TAGS = frozenset({"script", "style", "template", "head"})

_WS = re.compile(r"\s+")


# --------------------------------------------------------------------------
# A tiny DOM built with html.parser
# --------------------------------------------------------------------------
class Node:
    __slots__ = ("tag", "attrs", "children", "parent")

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Node | str] = []
        self.parent = parent

    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def elements(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]

    def iter(self):
        """Yield this node and all descendant elements, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v or "") for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID_TAGS:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, {k: (v or "") for k, v in attrs}, self.current)
        self.current.children.append(node)

    def handle_endtag(self, tag):
        if tag in VOID_TAGS:
            return
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:  # ignore stray end tags
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse_html(text: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


# --------------------------------------------------------------------------
# Text extraction
# --------------------------------------------------------------------------
def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _is_headerlink(node: Node) -> bool:
    return node.tag == "a" and "headerlink" in node.classes()


def _raw_text(node: Node) -> str:
    """All text below ``node`` verbatim (used for <pre>)."""
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, str):
            parts.append(child)
        elif child.tag == "br":
            parts.append("\n")
        elif child.tag not in SKIP_TAGS:
            parts.append(_raw_text(child))
    return "".join(parts)


def _inline_text(node: Node) -> str:
    """Text of ``node`` on one line: whitespace collapsed, markup dropped."""
    parts: list[str] = []

    def walk(n: Node) -> None:
        for child in n.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag in SKIP_TAGS or _is_headerlink(child):
                continue
            elif child.tag == "br":
                parts.append(" ")
            else:
                if child.tag in BLOCK_TAGS or child.tag in ("li", "ul", "ol", "pre"):
                    parts.append(" ")
                walk(child)
                if child.tag in BLOCK_TAGS or child.tag in ("li", "ul", "ol", "pre"):
                    parts.append(" ")

    walk(node)
    return _collapse("".join(parts))


def _render_list(node: Node) -> str:
    """A list as text: one line per item, starting ``- `` or ``N. ``.

    Further paragraphs of an item go on their own lines, indented by two
    spaces; code blocks inside an item are set off by blank lines.
    """
    ordered = node.tag == "ol"
    number = int(node.attrs.get("start") or 1) if ordered else 0
    lines: list[str] = []
    for item in node.elements():
        if item.tag != "li":
            continue
        blocks: list[tuple[str, str]] = []
        _render_blocks(item, blocks)
        marker = f"{number}. " if ordered else "- "
        if not blocks or blocks[0][0] != "text":
            blocks.insert(0, ("text", ""))
        for i, (kind, text) in enumerate(blocks):
            if kind == "pre":
                lines.append("\n" + text + "\n")
            elif i == 0:
                lines.append((marker + text).rstrip())
            else:
                lines.append(_indent(text))
        number += 1
    return "\n".join(lines).strip("\n")


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.split("\n"))


def _pre_text(node: Node) -> str:
    """A code block verbatim, minus trailing spaces and surrounding blank lines."""
    lines = [line.rstrip() for line in _raw_text(node).split("\n")]
    return "\n".join(lines).strip("\n")


def _render_blocks(node: Node, blocks: list[tuple[str, str]]) -> None:
    """Append the blocks of ``node``'s children as ``(kind, text)`` pairs.

    ``kind`` is ``"text"`` (a paragraph or a list) or ``"pre"`` (code).
    """
    inline: list[Node | str] = []

    def flush() -> None:
        if inline:
            holder = Node("span", {}, None)
            holder.children = list(inline)
            text = _inline_text(holder)
            if text:
                blocks.append(("text", text))
            inline.clear()

    for child in node.children:
        if isinstance(child, str):
            inline.append(child)
            continue
        tag = child.tag
        if tag in SKIP_TAGS or _is_headerlink(child):
            continue
        if tag == "pre":
            flush()
            code = _pre_text(child)
            if code:
                blocks.append(("pre", code))
        elif tag in ("ul", "ol"):
            flush()
            text = _render_list(child)
            if text:
                blocks.append(("text", text))
        elif tag in BLOCK_TAGS or tag == "li":
            flush()
            _render_blocks(child, blocks)
        else:
            inline.append(child)
    flush()


def section_answer(section: Node) -> str:
    """The answer text of a leaf section: everything but its heading."""
    body = Node("div", {}, None)
    heading_seen = False
    for child in section.children:
        if not heading_seen and isinstance(child, Node) and child.tag in HEADING_TAGS:
            heading_seen = True
            continue
        body.children.append(child)
    blocks: list[tuple[str, str]] = []
    _render_blocks(body, blocks)
    return "\n\n".join(text for _, text in blocks)


def section_question(section: Node) -> str:
    for child in section.elements():
        if child.tag in HEADING_TAGS:
            return _inline_text(child)
    return ""


def _find_main(root: Node) -> Node | None:
    for node in root.iter():
        if node.tag == "div" and node.attrs.get("role") == "main":
            return node
    return None


def extract_entries(html: str, page: str) -> list[dict[str, str]]:
    """FAQ entries of one page, in document order."""
    main = _find_main(parse_html(html))
    if main is None:
        return []
    entries: list[dict[str, str]] = []
    for node in main.iter():
        if node.tag != "section":
            continue
        if any(d.tag == "section" for d in node.iter() if d is not node):
            continue  # not a leaf
        anchor = node.attrs.get("id", "")
        question = section_question(node)
        answer = section_answer(node)
        if not anchor or not question or not answer:
            continue  # e.g. an empty section
        entries.append(
            {
                "id": f"{page}#{anchor}",
                "source": f"{page}.html",
                "question": question,
                "answer": answer,
            }
        )
    return entries


# --------------------------------------------------------------------------
# Split and training files
# --------------------------------------------------------------------------
def is_test_id(entry_id: str) -> bool:
    digest = hashlib.sha256(entry_id.encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100 < TEST_PERCENT


def split_entries(entries: list[dict]) -> tuple[list[dict], list[dict]]:
    """Split by hashed id; identical answers follow the first entry's bucket."""
    bucket_of_answer: dict[str, bool] = {}
    train: list[dict] = []
    test: list[dict] = []
    for entry in entries:
        is_test = bucket_of_answer.setdefault(entry["answer"], is_test_id(entry["id"]))
        (test if is_test else train).append(entry)
    return train, test


def _rng(entry_id: str, purpose: str) -> random.Random:
    seed = int(hashlib.sha256(f"{purpose}:{entry_id}".encode()).hexdigest()[:16], 16)
    return random.Random(seed)


def build_pairs(train: list[dict]) -> list[dict]:
    return [{"query": e["question"], "positive": [e["answer"]]} for e in train]


def build_triplets(train: list[dict], n_neg: int = N_TRIPLET_NEGATIVES) -> list[dict]:
    """Negatives: random answers of other train entries of the same page,
    topped up from other pages when the page has too few."""
    rows = []
    for entry in train:
        rng = _rng(entry["id"], "triplet")
        same = [
            e["answer"] for e in train if e["source"] == entry["source"] and e["answer"] != entry["answer"]
        ]
        negatives = rng.sample(same, min(n_neg, len(same)))
        if len(negatives) < n_neg:
            other = [
                e["answer"]
                for e in train
                if e["source"] != entry["source"] and e["answer"] != entry["answer"]
            ]
            negatives += rng.sample(other, min(n_neg - len(negatives), len(other)))
        rows.append({"query": entry["question"], "positive": [entry["answer"]], "negative": negatives})
    return rows


def build_scored(train: list[dict]) -> list[dict]:
    """Each query: its answer (1.0), then one random other train answer (0.0)."""
    rows = []
    for entry in train:
        rows.append({"query": entry["question"], "document": entry["answer"], "label": 1.0})
        others = [e["answer"] for e in train if e["answer"] != entry["answer"]]
        if others:
            negative = _rng(entry["id"], "scored").choice(others)
            rows.append({"query": entry["question"], "document": negative, "label": 0.0})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------
def list_pages(html_dir: Path) -> list[str]:
    """FAQ pages in index order; unknown pages (not index.html) follow, sorted."""
    present = {p.stem for p in html_dir.glob("*.html") if p.stem != "index"}
    known = [p for p in PAGE_ORDER if p in present]
    return known + sorted(present - set(PAGE_ORDER))


def render_pdfs(html_dir: Path, corpus: Path, pages: list[str]) -> None:
    exe = shutil.which("wkhtmltopdf")
    if exe is None:
        print("wkhtmltopdf not found: skipping the PDFs", file=sys.stderr)
        return
    for page in PDF_PAGES:
        if page not in pages:
            continue
        # Render the installed copy so the ../_static CSS applies.
        subprocess.run(
            [
                exe,
                "--quiet",
                "--enable-local-file-access",
                str(html_dir / f"{page}.html"),
                str(corpus / f"{page}.pdf"),
            ],
            check=True,
        )


def build(html_dir: Path, out: Path, pdf: bool = True) -> dict[str, int]:
    pages = list_pages(html_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus"
    corpus.mkdir(exist_ok=True)

    entries: list[dict] = []
    for page in pages:
        src = html_dir / f"{page}.html"
        shutil.copyfile(src, corpus / src.name)
        entries.extend(extract_entries(src.read_text(encoding="utf-8"), page))

    root = html_dir.parent
    for dest, rel in LICENCE_FILES:
        src = root / rel
        if src.is_file():
            shutil.copyfile(src, out / dest)
        else:
            print(f"licence file not found, skipped: {src}", file=sys.stderr)

    train, test = split_entries(entries)
    write_jsonl(out / "qa.jsonl", entries)
    write_jsonl(out / "qa.train.jsonl", train)
    write_jsonl(out / "qa.test.jsonl", test)
    write_jsonl(out / "pairs.train.jsonl", build_pairs(train))
    write_jsonl(out / "triplets.train.jsonl", build_triplets(train))
    write_jsonl(out / "scored.train.jsonl", build_scored(train))

    if pdf:
        render_pdfs(html_dir, corpus, pages)
    else:
        print("--no-pdf: skipping the PDFs", file=sys.stderr)
    return {"pages": len(pages), "entries": len(entries), "train": len(train), "test": len(test)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--html-dir",
        type=Path,
        default=DEFAULT_HTML_DIR,
        help=f"FAQ HTML directory (default: {DEFAULT_HTML_DIR})",
    )
    parser.add_argument("--no-pdf", action="store_true", help="do not render PDFs")
    args = parser.parse_args(argv)

    if not args.html_dir.is_dir() or not list_pages(args.html_dir):
        print(
            f"error: no FAQ HTML pages in {args.html_dir}\ninstall them with: apt-get install python3.11-doc",
            file=sys.stderr,
        )
        return 2
    stats = build(args.html_dir, args.out, pdf=not args.no_pdf)
    print(
        f"{stats['entries']} entries from {stats['pages']} pages: "
        f"{stats['train']} train / {stats['test']} test -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
