"""Small documents shaped like the output of real generators (DocBook, Sphinx, texinfo, TeX), written for
the extraction tests: what a reader sees must be kept, the furniture (navigation, contents pages, running
headers) must not be. All text is made up for these tests.

HTML pages are module constants; PDFs are built with fpdf2 (core Helvetica) by the ``build_*`` functions,
which write one file and return its path.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

# ------------------------------------------------------------------------------------------------ HTML
# An API page shaped like Javadoc 17's: <main> holds a header (a "Package" up-link above the class title),
# the class description (its signature's links go out of the site), a member summary as a grid of divs with
# tab buttons above it, and the member details, both lists whose items are sections. Furniture: the
# up-link, the summary's cells that are only a jump to the member's details, the "See Also" jump list.
JAVADOC_LOWER = (  # the details are most of the page's text, as in a real class page
    "Lowers the set point by half a degree, down to the frost guard at five degrees. The valve follows within "
    "a minute; the radiator cools over the next hour. Lowering a room that is already at the frost guard "
    "changes nothing and is not an error. In the summer schedule the set point is ignored and the valve "
    "stays shut, so lowering then only takes effect in October. A room whose window contact reports an "
    "open window is held at the frost guard whatever its set point, and lowering it is remembered for "
    "when the window closes. Every change is written to the boiler log with the time and the caretaker's "
    "badge number, and the weekly report lists the rooms lowered more than three times."
)
JAVADOC_PAGE = f"""<!DOCTYPE HTML><html><head><title>Thermostat (Caretaker API)</title>
<meta name="generator" content="javadoc/ClassWriterImpl"></head><body>
<header role="banner"><nav role="navigation"><ul><li><a href="package-summary.html">Package</a></li>
  <li><a href="overview-tree.html">Tree</a></li></ul></nav></header>
<main role="main">
<div class="header">
<div class="sub-title"><span class="package-label-in-type">Package</span>&nbsp;<a href="package-summary.html">org.example.caretaker</a></div>
<h1 title="Class Thermostat" class="title">Class Thermostat</h1>
</div>
<section class="class-description" id="class-description">
<div class="type-signature"><span class="modifiers">public final class </span><span class="element-name"><a href="../src/Thermostat.html#line-12">Thermostat</a></span>
<span class="extends-implements">extends <a href="https://example.org/api/Object.html" class="external-link">Object</a></span></div>
<div class="block"><p>Holds the set point of one room and switches its radiator valve.</p></div>
</section>
<section class="summary"><ul class="summary-list"><li><section class="method-summary" id="method-summary">
<h2>Method Summary</h2>
<div class="table-tabs" role="tablist"><button role="tab" class="active-table-tab">All Methods</button><button role="tab">Instance Methods</button></div>
<div class="summary-table two-column-summary">
<div class="table-header col-first">Method</div><div class="table-header col-last">Description</div>
<div class="col-first"><code><a href="#lower()" class="member-name-link">lower</a></code></div>
<div class="col-last"><div class="block">Lowers the set point by half a degree.</div></div>
</div>
</section></li></ul></section>
<section class="details"><ul class="details-list"><li><section class="method-details" id="method-detail">
<h2>Method Details</h2>
<ul class="member-list"><li><section class="detail" id="lower()"><h3>lower</h3>
<div class="member-signature"><span class="modifiers">public</span>&nbsp;<span class="return-type">void</span>&nbsp;<span class="element-name">lower</span>()</div>
<div class="block">{JAVADOC_LOWER}</div>
<dl class="notes"><dt>See Also:</dt><dd><ul class="see-list"><li><a href="#raise()"><code>raise()</code></a></li></ul></dd></dl>
</section></li></ul>
</section></li></ul></section>
</main>
<footer role="contentinfo"><p class="legal-copy"><small>Copyright 2024 Example Caretakers.</small></p></footer>
</body></html>
"""

# An API page shaped like Doxygen 1.8's: no <main>; a title area, a summary of the members as tables whose
# heading rows hold the h2s, a group header ("Macro Definition Documentation") right above each macro's own
# h2, and an <address> footer naming the generator. Furniture: the link-only rows (sub-groups), the footer.
DOXYGEN_PAGE = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "https://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><meta name="generator" content="Doxygen 1.8.16"/>
<title>Boiler API: Burner Flags</title></head><body>
<div id="top"><div id="titlearea"><table><tr><td><div id="projectname">Boiler API</div></td></tr></table></div></div>
<div class="header"><div class="headertitle"><div class="title">Burner Flags<div class="ingroups"><a class="el" href="group__boiler.html">Boiler API</a></div></div></div></div>
<div class="contents">
<table class="memberdecls">
<tr class="heading"><td colspan="2"><h2 class="groupheader"><a name="groups"></a>Modules</h2></td></tr>
<tr><td class="memItemLeft">&#160;</td><td class="memItemRight"><a class="el" href="group__pilot.html">Pilot Flags</a></td></tr>
<tr><td class="memItemLeft">&#160;</td><td class="memItemRight"><a class="el" href="group__fan.html">Fan Flags</a></td></tr>
</table>
<table class="memberdecls">
<tr class="heading"><td colspan="2"><h2 class="groupheader"><a name="define-members"></a>Macros</h2></td></tr>
<tr><td class="memItemLeft">#define&#160;</td><td class="memItemRight"><a class="el" href="#ga1">BURNER_LOW</a>&#160;&#160;&#160;0x01</td></tr>
<tr><td class="memItemLeft">#define&#160;</td><td class="memItemRight"><a class="el" href="#ga2">BURNER_HIGH</a>&#160;&#160;&#160;0x02</td></tr>
</table>
<h2 class="groupheader">Macro Definition Documentation</h2>
<a id="ga1"></a><h2 class="memtitle"><span class="permalink"><a href="#ga1">&#9670;&nbsp;</a></span>BURNER_LOW</h2>
<div class="memitem"><div class="memproto"><table class="memname"><tr><td class="memname">#define BURNER_LOW&#160;&#160;&#160;0x01</td></tr></table></div>
<div class="memdoc"><p>Runs the burner on its low stage, for mild days.</p></div></div>
<a id="ga2"></a><h2 class="memtitle"><span class="permalink"><a href="#ga2">&#9670;&nbsp;</a></span>BURNER_HIGH</h2>
<div class="memitem"><div class="memproto"><table class="memname"><tr><td class="memname">#define BURNER_HIGH&#160;&#160;&#160;0x02</td></tr></table></div>
<div class="memdoc"><p>Runs the burner on both stages, for frost.</p></div></div>
</div>
<hr class="footer"/><address class="footer"><small>Generated by &#160;<a href="http://www.doxygen.org/index.html"><img class="footer" src="doxygen.png" alt="doxygen"/></a> 1.8.16</small></address>
</body></html>
"""


# The answer to "where is the spare boiler room key?" sits in a DocBook sidebar, as DocBook and Publican
# write notes and asides; the chapter also has a note as an admonition table, a variable list, a table, a
# screen (code) and a figure. Navigation: the header and footer link bars and the chapter's contents list.
SIDEBAR_ANSWER = "The spare key to the boiler room hangs behind the fire extinguisher in the east stairwell."
DOCBOOK_PAGE = f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Chapter 2. Keys and locks</title>
<link rel="prev" href="ch01.html" title="Chapter 1. Arrival"/><link rel="next" href="ch03.html" title="Chapter 3. Heating"/>
</head><body>
<div class="navheader"><table width="100%" summary="Navigation header">
  <tr><th colspan="3" align="center">Chapter 2. Keys and locks</th></tr>
  <tr><td align="left"><a accesskey="p" href="ch01.html"><img src="images/prev.png" alt="Prev"/></a> </td>
      <th width="60%" align="center"> </th>
      <td align="right"> <a accesskey="n" href="ch03.html"><img src="images/next.png" alt="Next"/></a></td></tr>
</table><hr/></div>
<div class="chapter">
  <div class="titlepage"><div><div><h1 class="title"><a id="keys"></a>Chapter 2. Keys and locks</h1></div></div></div>
  <div class="toc"><p><strong>Table of Contents</strong></p>
    <dl class="toc">
      <dt><span class="section"><a href="ch02.html#where">2.1. Where the keys are kept</a></span></dt>
      <dt><span class="section"><a href="ch02.html#locks">2.2. Lock codes</a></span></dt>
    </dl>
  </div>
  <div class="section"><div class="titlepage"><div><div><h2 class="title"><a id="where"></a>2.1. Where the keys are kept</h2></div></div></div>
    <p>Every key is labelled with the room it opens. The key cabinet is in the caretaker's office.</p>
    <div class="sidebar"><div class="titlepage"><div><div><p class="title"><b>Spare keys</b></p></div></div></div>
      <p>{SIDEBAR_ANSWER}</p>
    </div>
    <div class="note" style="margin-left: 0.5in; margin-right: 0.5in;">
      <table border="0" summary="Note">
        <tr><td rowspan="2" align="center" valign="top"><img alt="[Note]" src="images/note.png"/></td><th align="left">Note</th></tr>
        <tr><td align="left" valign="top"><p>Return every key before six in the evening.</p>
          <pre class="screen">$ keylog --return 42</pre></td></tr>
      </table>
    </div>
    <div class="variablelist"><dl class="variablelist">
      <dt><span class="term">Red tag</span></dt>
      <dd><p>Opens the plant rooms. Only the caretaker may borrow it.</p></dd>
      <dt><span class="term">Blue tag</span></dt><dt><span class="term">Green tag</span></dt>
      <dd><p>Open the meeting rooms on the first floor.</p></dd>
    </dl></div>
  </div>
  <div class="section"><div class="titlepage"><div><div><h2 class="title"><a id="locks"></a>2.2. Lock codes</h2></div></div></div>
    <div class="table"><p class="title"><b>Table 2.1. Door codes</b></p>
      <div class="table-contents"><table summary="Door codes" border="1">
        <thead><tr><th>Door</th><th>Code</th><th>Changed</th></tr></thead>
        <tbody><tr><td>Bike shed</td><td><code class="literal">4711</code></td><td>March</td></tr>
        <tr><td>Roof hatch</td><td><code class="literal">0815</code></td><td>May</td></tr></tbody>
      </table></div></div>
    <div class="figure"><div class="figure-contents"><div class="mediaobject"><img src="plan.png" alt="Floor plan of the ground floor"/></div></div>
      <p class="title"><b>Figure 2.1. The key cabinet is left of the door</b></p></div>
    <pre class="screen">$ lockctl --show roof-hatch
code: 0815</pre>
  </div>
</div>
<div class="navfooter"><hr/><table width="100%" summary="Navigation footer">
  <tr><td align="left"><a accesskey="p" href="ch01.html"><img src="images/prev.png" alt="Prev"/></a> </td>
      <td align="center"> </td>
      <td align="right"> <a accesskey="n" href="ch03.html"><img src="images/next.png" alt="Next"/></a></td></tr>
  <tr><td align="left" valign="top">Chapter 1. Arrival </td>
      <td align="center"><a accesskey="h" href="index.html"><img src="images/home.png" alt="Home"/></a></td>
      <td align="right" valign="top"> Chapter 3. Heating</td></tr>
</table></div>
</body></html>
"""

# A page without <main> whose sidebar really is navigation: a list of links beside the text.
NAV_SIDEBAR_PAGE = """<html><head><title>Opening hours</title></head><body>
<div class="sidebar">
  <h3>Pages</h3>
  <ul><li><a href="index.html">Welcome</a></li><li><a href="hours.html">Opening hours</a></li>
      <li><a href="contact.html">Contact the caretaker</a></li><li><a href="rules.html">House rules</a></li></ul>
</div>
<div class="content">
  <h1>Opening hours</h1>
  <p>The building opens at seven and closes at ten on weekdays. On Sundays it stays closed.</p>
  <p>During the summer holidays the opening hours are shortened by two hours.</p>
</div>
</body></html>
"""

# An older Sphinx theme: no role="main", the sidebar (contents, "Previous topic", search) has no role
# either; inside the text: a sidebar directive (<aside>), a warning admonition, a function description
# (a definition list) and a table of contents tree.
SPHINX_OLD_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"/><title>Boilers &#8212; Facilities 2.0</title></head>
<body>
<div class="related"><h3>Navigation</h3><ul>
  <li class="right"><a href="genindex.html" title="General Index" accesskey="I">index</a></li>
  <li class="right"><a href="pumps.html" title="Pumps" accesskey="N">next</a> |</li>
  <li class="right"><a href="intro.html" title="Introduction" accesskey="P">previous</a> |</li>
  <li><a href="index.html">Facilities 2.0 documentation</a> &#187;</li></ul></div>
<div class="document"><div class="documentwrapper"><div class="bodywrapper"><div class="body">
<section id="boilers"><h1>Boilers<a class="headerlink" href="#boilers" title="Permalink">¶</a></h1>
<p>The building has two gas boilers in the basement plant room, serviced every autumn.</p>
<aside class="sidebar"><p class="sidebar-title">Pressure</p>
<p>A cold boiler should show between one and one and a half bar on its gauge.</p></aside>
<div class="admonition warning"><p class="admonition-title">Warning</p>
<p>Never bleed a radiator while the pump is running.</p></div>
<dl class="py function"><dt class="sig sig-object py" id="restart"><span class="sig-name descname">restart</span>(<em>boiler</em>, <em>force=False</em>)</dt>
<dd><p>Restart one boiler after a lockout.</p><p>With <em>force</em> the flame check is skipped.</p></dd></dl>
<div class="toctree-wrapper compound"><ul>
  <li class="toctree-l1"><a class="reference internal" href="pumps.html">Pumps</a></li>
  <li class="toctree-l1"><a class="reference internal" href="valves.html">Valves</a></li>
  <li class="toctree-l1"><a class="reference internal" href="tanks.html">Tanks</a></li></ul></div>
</section>
</div></div></div>
<div class="sphinxsidebar"><div class="sphinxsidebarwrapper">
  <h4>Previous topic</h4><p class="topless"><a href="intro.html" title="previous chapter">Introduction</a></p>
  <h4>Next topic</h4><p class="topless"><a href="pumps.html" title="next chapter">Pumps</a></p>
  <div role="note"><h3>This Page</h3><ul class="this-page-menu"><li><a href="_sources/boilers.rst.txt">Show Source</a></li></ul></div>
  <div id="searchbox"><h3>Quick search</h3><form class="search" action="search.html"><input type="text" name="q"/><input type="submit" value="Go"/></form></div>
</div></div>
<div class="clearer"></div></div>
<div class="footer">&#169; Copyright 2024, the caretakers. Created using Sphinx.</div>
</body></html>
"""

# <main> holding an article with an <aside> warning (kept); an <aside> of links beside <main> (not read).
ASIDE_PAGE = """<html><head><title>Ladders</title></head><body>
<a class="skip-link" href="#main">Skip to content</a>
<header><a href="/">Caretaker's handbook</a> <a href="/search">Search</a></header>
<main id="main"><article>
  <h1>Ladders</h1>
  <p>Ladders are stored flat on the wall hooks in the workshop.</p>
  <aside class="warning"><h2>Warning</h2><p>Never climb a ladder alone after dark; call the night porter first.</p></aside>
  <h2>Inspection</h2>
  <p>Check the feet and the rungs before each use.</p>
</article></main>
<aside><h2>Related</h2><ul><li><a href="/steps">Step stools</a></li><li><a href="/scaffold">Scaffolds</a></li></ul></aside>
<footer>Last changed in May.</footer>
</body></html>
"""

# texinfo's node navigation panel sits inside the text, above and below it.
TEXINFO_PAGE = """<html><head><title>Fuses (Caretaker)</title></head><body lang="en">
<div class="section-level-extent" id="Fuses">
<div class="nav-panel"><p>
Next: <a href="Lights.html" accesskey="n" rel="next">Lights</a>, Previous: <a href="Doors.html" accesskey="p" rel="prev">Doors</a>, Up: <a href="Electrics.html" accesskey="u" rel="up">Electrics</a> &nbsp; [<a href="Index.html" title="Index" rel="index">Index</a>]</p>
</div>
<hr/>
<h3 class="section" id="Fuses-1"><span>3.2 Fuses</span></h3>
<p>The fuse box for the ground floor is behind the reception desk.</p>
<hr/>
<div class="nav-panel"><p>
Next: <a href="Lights.html" accesskey="n" rel="next">Lights</a>, Previous: <a href="Doors.html" accesskey="p" rel="prev">Doors</a>, Up: <a href="Electrics.html" accesskey="u" rel="up">Electrics</a> &nbsp; [<a href="Index.html" title="Index" rel="index">Index</a>]</p>
</div></div>
</body></html>
"""

# grohtml writes a contents list of bare links, and then the text after </html>.
GROHTML_PAGE = """<html><head><title>Making Signs</title></head><body>
<h1 align="center">Making Signs</h1>
<a href="signs-1.html#1">1. Letters</a><br>
<a href="signs-1.html#1.1">1.1. Sizes</a><br>
<a href="signs-2.html#2">2. Mounting</a><br>
<hr>
</body></html>
<p>Signs are printed on the office printer and laminated before they go up.</p>
"""


# ------------------------------------------------------------------------------------------------- PDF
BOILER_PARAGRAPH = [
    "Page {n} of the facilities guide. The boiler room key hangs behind the",
    "door of the caretaker's office, on the second hook from the left.",
    "Return it to the same hook when you leave the boiler room.",
]


def build_boiler_pdf(path: Path) -> Path:
    """Three pages, each holding one paragraph that starts "Page N of the facilities guide.": every line of
    every page repeats on the others once digits are normalised, as running headers do."""
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for n in (1, 2, 3):
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        pdf.set_y(30)
        for line in BOILER_PARAGRAPH:
            pdf.cell(0, 6, line.format(n=n), new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


# A TeX-style book with an outline: a contents page and a list of tables with dot leaders (unnumbered), then
# two chapters of two sections, each section two pages long. A chapter opens with "Chapter N" above its
# title and the page number at the foot; its other pages carry TeX's running headers, which change with
# the chapter and the section and hold the page number: "2    CHAPTER 1. HEATING" on even pages,
# "1.2. RADIATORS    3" on odd ones. An index closes the book.
MANUAL = [
    ("Heating", [
        ("1.1 Boilers", [
            ["The two boilers in the basement are serviced every autumn by the gas fitter.",
             "A cold boiler should show between one and one and a half bar on its gauge."],
            ["If the pressure drops below one bar, top it up at the filling loop under the boiler.",
             "Write every top-up in the boiler log with the date and the pressure reached."],
        ]),
        ("1.2 Radiators", [
            ["Radiators are bled in October, starting on the top floor and working downwards.",
             "Keep a cloth under the valve while bleeding: the first water out is black."],
            ["Thermostatic heads are set to three in offices and to two in corridors.",
             "A radiator that stays cold at the top needs bleeding; cold at the bottom, flushing."],
        ]),
    ]),
    ("Water", [
        ("2.1 Mains", [
            ["The main stopcock is in the pit outside the bike shed, under a green lid.",
             "Turn it clockwise to close; it takes eleven full turns."],
            ["The water meter is read on the first working day of every month.",
             "Readings go into the meter book kept in the caretaker's office."],
        ]),
        ("2.2 Hot water", [
            ["The hot water cylinder is heated to sixty degrees once a week against legionella.",
             "Taps that are seldom used are run for two minutes every Monday."],
            ["The cylinder's immersion heater is a backup and normally stays off.",
             "Switch it on only when both boilers are out of service."],
        ]),
    ]),
]  # fmt: skip
FIRST_NUMBERED_PAGE = 3  # the PDF page printed "1" (the two contents pages are unnumbered)
MANUAL_CONTENTS = [
    ("1 Heating", 1), ("1.1 Boilers", 1), ("1.2 Radiators", 3), ("2 Water", 5), ("2.1 Mains", 5),
    ("2.2 Hot water", 7), ("Index", 9),
]  # fmt: skip
MANUAL_TABLES = [("1.1 Boiler pressures", 2), ("2.1 Meter readings", 6)]
MANUAL_INDEX = [
    "bleeding, 3, 4",
    "boiler, 1, 2",
    "cylinder, 7",
    "legionella, 7",
    "stopcock, 5",
    "water meter, 6",
]


def manual_body_lines() -> list[str]:
    """Every line of body text in :func:`build_manual_pdf`'s book (what must reach the index)."""
    return [line for _, sections in MANUAL for _, pages in sections for page in pages for line in page]


def _running_header(pdf: FPDF, printed: int, chapter: str, section: str) -> None:
    """TeX's book style: the chapter on even pages, the section on odd ones, the page number outside."""
    pdf.set_font("helvetica", size=9)
    pdf.set_y(10)
    if printed % 2 == 0:
        pdf.cell(0, 5, f"{printed}    {chapter.upper()}", align="L")
    else:
        pdf.cell(0, 5, f"{section.upper()}    {printed}", align="R")
    pdf.set_y(25)


def _foot_folio(pdf: FPDF, printed: int) -> None:
    pdf.set_font("helvetica", size=9)
    pdf.set_y(-15)
    pdf.cell(0, 5, str(printed), align="C")


def _dotted(pdf: FPDF, title: str, page: int) -> None:
    """A contents line: the title, dot leaders, the page number at the right margin."""
    pdf.set_font("helvetica", size=11)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    room = width - pdf.get_string_width(f"{title}  {page}")
    dots = " ." * max(3, int(room / pdf.get_string_width(" .")) - 1)
    pdf.cell(0, 6, f"{title}{dots} {page}", new_x="LMARGIN", new_y="NEXT")


def _title(pdf: FPDF, text: str, size: int = 20) -> None:
    pdf.set_font("helvetica", style="B", size=size)
    pdf.cell(0, 12, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def build_manual_pdf(path: Path) -> Path:
    """The TeX-style book described above :data:`MANUAL`, with an outline (chapters and sections)."""
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_page()
    _title(pdf, "Contents")
    for title, page in MANUAL_CONTENTS:
        _dotted(pdf, title, page)
    pdf.add_page()
    _title(pdf, "List of Tables")
    for title, page in MANUAL_TABLES:
        _dotted(pdf, title, page)
    for number, (chapter, sections) in enumerate(MANUAL, start=1):
        for k, (section, pages) in enumerate(sections):
            for half, lines in enumerate(pages):
                pdf.add_page()
                printed = pdf.page_no() - FIRST_NUMBERED_PAGE + 1
                opening = k == 0 and half == 0
                if opening:
                    pdf.set_y(25)
                    pdf.set_font("helvetica", style="B", size=16)
                    pdf.cell(0, 9, f"Chapter {number}", new_x="LMARGIN", new_y="NEXT")
                    pdf.start_section(chapter, level=0)
                    _title(pdf, chapter, size=22)
                else:
                    sec_number, sec_title = section.split(" ", 1)
                    _running_header(
                        pdf, printed, f"Chapter {number}. {chapter}", f"{sec_number}. {sec_title}"
                    )
                if half == 0:
                    pdf.set_font("helvetica", style="B", size=13)
                    pdf.start_section(section, level=1)
                    pdf.cell(0, 8, section, new_x="LMARGIN", new_y="NEXT")
                    pdf.ln(2)
                pdf.set_font("helvetica", size=11)
                for line in lines:
                    pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
                if opening:
                    _foot_folio(pdf, printed)
    pdf.add_page()
    _title(pdf, "Index")
    pdf.set_font("helvetica", size=11)
    for entry in MANUAL_INDEX:
        pdf.cell(0, 6, entry, new_x="LMARGIN", new_y="NEXT")
    _foot_folio(pdf, pdf.page_no() - FIRST_NUMBERED_PAGE + 1)
    pdf.output(str(path))
    return path


# A Sphinx-LaTeX-style book whose outline names the sections without their numbers ("Bleeding") while the
# page prints them ("1.1 Bleeding"), and whose appendix is four pages each holding only a figure's
# caption (the figures are pictures), as a flowchart appendix is.
NUMBERED_SECTIONS = [("1.1", "Bleeding", "Radiators are bled in October, from the top floor downwards."),
                     ("1.2", "Flushing", "A radiator cold at the bottom is flushed with the valve open.")]  # fmt: skip
FIGURE_CAPTIONS = [f"Fig. {n}: {what}" for n, what in enumerate(
    ["Filling the loop", "Bleeding a radiator", "Draining the system", "Refilling after a drain"], start=1)]  # fmt: skip


def build_numbered_pdf(path: Path) -> Path:
    """The book described above :data:`NUMBERED_SECTIONS`: a chapter of two sections, then the captions."""
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.start_section("Radiators", level=0)
    _title(pdf, "1 Radiators")
    for number, title, text in NUMBERED_SECTIONS:
        pdf.start_section(title, level=1)
        pdf.set_font("helvetica", style="B", size=13)
        pdf.cell(0, 8, f"{number} {title}", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_font("helvetica", size=11)
        pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.add_page()
    pdf.start_section("Flowcharts", level=0)
    _title(pdf, "2 Flowcharts")
    pdf.set_font("helvetica", size=11)
    pdf.cell(0, 6, "The drawings in this appendix show each job step by step.", new_x="LMARGIN", new_y="NEXT")
    for caption in FIGURE_CAPTIONS:
        pdf.add_page()
        pdf.set_y(120)
        pdf.cell(0, 6, caption, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path
