"""Small test documents, built on the fly (all text written for these tests).

PDFs are made with fpdf2 (core Helvetica, so no font files are needed); DOCX with python-docx. Each
builder writes one file and returns its path; the texts they contain are module constants so tests can
assert exact values.
"""

from __future__ import annotations

import io
from pathlib import Path

from fpdf import FPDF

# ------------------------------------------------------------------------------------------------ PDF
HANDBOOK_HEADER = "Garden Club Handbook - members only"
# Page 1: title, "1 Planting" + "1.1 Soil"; page 2: more "1.1 Soil" text, then "2 Watering";
# page 3: "2.1 Drip lines" at the top, and an outline entry "Notes" whose title is not on the page.
HANDBOOK = [
    [
        ("title", "Garden Club Handbook"),
        ("h1", "1 Planting"),
        (
            "p",
            [
                "Plant the seedlings after the last frost. Each bed gets a",
                "label with the variety and the date.",
            ],
        ),
        ("h2", "1.1 Soil"),
        (
            "p",
            [
                "Mix compost into the top layer before planting. A well-",
                "drained bed keeps the roots healthy.",
            ],
        ),
        ("p", ["Test the acidity every spring; most vegetables like a pH", "between six and seven."]),
    ],
    [
        (
            "p",
            ["Loosen compacted soil with a fork rather than a spade, so the", "worms are not cut in half."],
        ),
        ("p", ["Raised beds stay well-drained in wet years."]),
        ("h1", "2 Watering"),
        ("p", ["Water early in the morning, at the base of the plants, and", "never in the midday sun."]),
    ],
    [
        ("h2", "2.1 Drip lines"),
        ("p", ["Drip lines save water. Check the emit-", "ters for clogging once a month."]),
        ("bookmark", "Notes"),
        ("p", ["Record rainfall in the club notebook."]),
    ],
]


class _HandbookPdf(FPDF):
    def header(self) -> None:
        self.set_font("helvetica", size=8)
        self.set_y(8)
        self.cell(0, 5, HANDBOOK_HEADER, align="C")
        self.set_y(25)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("helvetica", size=8)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")


def _write_paragraph(pdf: FPDF, lines: list[str]) -> None:
    pdf.set_font("helvetica", size=11)
    for line in lines:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)  # a paragraph gap: one blank line height


def build_handbook_pdf(path: Path, *, outline: bool = True) -> Path:
    """Three pages with running header and "Page N of 3" footer, headings in a larger bold font, an outline
    (bookmarks, unless ``outline=False``), and words hyphenated at line ends ("well-drained", "emitters")."""
    pdf = _HandbookPdf()
    pdf.set_auto_page_break(False)
    for page in HANDBOOK:
        pdf.add_page()
        for kind, content in page:
            if kind == "title":
                pdf.set_font("helvetica", style="B", size=20)
                if outline:
                    pdf.start_section(content, level=0)
                pdf.cell(0, 12, content, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(4)
            elif kind in ("h1", "h2"):
                size = 16 if kind == "h1" else 13
                pdf.set_font("helvetica", style="B", size=size)
                if outline:
                    pdf.start_section(content, level=1 if kind == "h1" else 2)
                pdf.cell(0, 9, content, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(2)
            elif kind == "bookmark":
                if outline:
                    pdf.start_section(content, level=1)
            else:
                _write_paragraph(pdf, content)  # type: ignore[arg-type]
    pdf.output(str(path))
    return path


GLUED_WORDS = [
    "The",
    "official",
    "document",
    "giving",
    "installation",
    "instructions",
    "is",
    "the",
    "Debian",
    "manual",
]


def build_glued_pdf(path: Path) -> Path:
    """One line of words placed one by one (``text(x, y, word)``, as wkhtmltopdf/Qt place text), in a font
    whose declared space width (1.5 em) is far wider than the gaps between the words. pypdf's plain
    extraction then sees no spaces ("Theofficialdocument..."); PDFium, which looks at the glyphs, does."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, NameObject, NumberObject

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    for row in range(3):
        x = 20.0
        for word in GLUED_WORDS:
            pdf.text(x, 30 + 6 * row, word)
            x += pdf.get_string_width(word) + pdf.get_string_width(" ")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(pdf.output()))))
    font = writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
    widths = [round(pdf.get_string_width(chr(c)) / 12 * 72 / 25.4 * 1000) for c in range(32, 127)]
    widths[0] = 1500  # the space
    font[NameObject("/FirstChar")] = NumberObject(32)
    font[NameObject("/LastChar")] = NumberObject(126)
    font[NameObject("/Widths")] = ArrayObject(NumberObject(w) for w in widths)
    with open(path, "wb") as f:
        writer.write(f)
    return path


def build_simple_pdf(path: Path, lines: list[str], *, user_password: str | None = None) -> Path:
    """One page, one paragraph of ``lines``; encrypted (RC4, fpdf2's default) when ``user_password``."""
    pdf = FPDF()
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-" + user_password, user_password=user_password)
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for line in lines:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def build_scanned_pdf(path: Path) -> Path:
    """Two pages with drawings and no text, like a scan without OCR."""
    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.set_fill_color(40, 40, 40)
        for i in range(10):
            pdf.rect(20, 20 + 12 * i, 150 - 7 * i, 6, style="F")
    pdf.output(str(path))
    return path


# ----------------------------------------------------------------------------------------------- HTML
SPHINX_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>Composting FAQ &#8212; Garden Docs 1.0</title>
  <link rel="stylesheet" href="_static/pydoctheme.css" />
  <script src="_static/doctools.js"></script>
  <style>body { font-family: sans-serif; }</style>
</head>
<body>
  <div class="mobile-nav">
    <nav class="nav-content" role="navigation">
      <a href="#" class="nav-logo">Garden Docs</a>
      <form role="search" class="search"><input type="text" name="q" /><input type="submit" value="Go" /></form>
    </nav>
  </div>
  <div class="related" role="navigation" aria-label="related navigation">
    <h3>Navigation</h3>
    <ul><li><a href="genindex.html">index</a></li><li><a href="watering.html">next</a> |</li></ul>
  </div>
  <div class="document">
    <div class="documentwrapper">
      <div class="bodywrapper">
        <div class="body" role="main">
  <section id="composting-faq">
  <h1>Composting FAQ<a class="headerlink" href="#composting-faq" title="Permalink to this heading">¶</a></h1>
  <nav class="contents" id="contents">
  <p class="topic-title">Contents</p>
  <ul class="simple"><li><p><a href="#what-goes-in">What goes in the bin?</a></p></li></ul>
  </nav>
  <section id="what-goes-in">
  <h2>What goes in the bin?<a class="headerlink" href="#what-goes-in" title="Permalink">¶</a></h2>
  <p>Vegetable scraps, coffee grounds and
     <em>shredded</em> cardboard.  Avoid <a href="meat.html">meat</a>.</p>
  <ul class="simple">
  <li><p>Greens: grass clippings</p></li>
  <li><p>Browns: dry leaves</p>
    <ul><li>Oak leaves break down slowly</li></ul>
  </li>
  </ul>
  <div class="highlight-python3 notranslate"><div class="highlight"><pre><span></span><span class="k">def</span> <span class="nf">ratio</span><span class="p">(</span>greens<span class="p">,</span> browns<span class="p">):</span>
    <span class="k">return</span> greens <span class="o">/</span> browns
</pre></div></div>
  <section id="how-hot">
  <h3>How hot does it get?<a class="headerlink" href="#how-hot" title="Permalink">¶</a></h3>
  <table class="docutils"><thead><tr><th>Stage</th><th>Temperature</th></tr></thead>
  <tbody><tr><td>Active</td><td>55 &#8211; 65 &#176;C</td></tr><tr><td>Curing</td><td>below 40 &#176;C</td></tr></tbody></table>
  </section>
  </section>
  <section id="when-ready">
  <h2>When is it ready?<a class="headerlink" href="#when-ready" title="Permalink">¶</a></h2>
  <p>When it smells like forest soil.<br/>Usually after six months.</p>
  </section>
  </section>
        </div>
      </div>
    </div>
    <div class="sphinxsidebar" role="navigation" aria-label="main navigation">
      <div class="sphinxsidebarwrapper">
        <h3>Table of Contents</h3>
        <ul><li><a href="#">Composting FAQ</a></li></ul>
        <div role="note"><h3>This Page</h3><ul><li><a href="_sources/compost.rst.txt">Show Source</a></li></ul></div>
      </div>
    </div>
  </div>
  <div class="related" role="navigation"><ul><li><a href="genindex.html">index</a></li></ul></div>
  <div class="footer">&copy; Copyright 2024, The Garden Club. Last updated on Jan 01, 2024.</div>
</body>
</html>
"""


# ----------------------------------------------------------------------------------------------- DOCX
def build_docx(path: Path) -> Path:
    """Title, two heading levels, paragraphs, a bulleted list and a 2x3 table with a merged header cell."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Tool Shed Rules (properties)"
    document.add_paragraph("Tool Shed Rules", style="Title")
    document.add_paragraph("Shared tools are a privilege.")
    document.add_heading("Borrowing", level=1)
    document.add_paragraph("Sign the book   when you take a tool.")
    document.add_paragraph("Spades", style="List Bullet")
    document.add_paragraph("Rakes", style="List Bullet")
    document.add_heading("Returning", level=2)
    document.add_paragraph("Clean the blades before hanging them up.")
    table = document.add_table(rows=3, cols=2)
    top = table.cell(0, 0).merge(table.cell(0, 1))
    top.text = "Opening hours"
    table.cell(1, 0).text = "Weekdays"
    table.cell(1, 1).text = "8-18"
    table.cell(2, 0).text = "Weekends"
    table.cell(2, 1).text = "9-13"
    document.add_heading("Fines", level=1)
    document.add_paragraph("A lost tool is replaced by the borrower.")
    document.save(str(path))
    return path
