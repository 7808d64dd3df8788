"""Tests for scripts/build_python_faq.py on a small hand-written HTML fixture."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build_python_faq.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("build_python_faq", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_python_faq", module)
    spec.loader.exec_module(module)
    return module


faq = _load_script()

TIPS_HTML = """<!DOCTYPE html>
<html><head><title>Tips</title><style>p { color: red }</style></head>
<body>
<div class="sphinxsidebar"><p>Sidebar noise</p></div>
<div class="body" role="main">
<section id="tips">
<h1>Tips<a class="headerlink" href="#tips" title="Permalink">¶</a></h1>
<nav class="contents"><ul><li><a href="#basics">Basics</a></li></ul></nav>
<section id="basics">
<h2>Basics<a class="headerlink" href="#basics">¶</a></h2>
<section id="how-do-i-greet">
<h3>How do I   greet<a class="headerlink" href="#how-do-i-greet">¶</a></h3>
<p>Say   <em>hello</em>
to the <a class="reference external" href="https://example.org/x">friendly   site</a>.</p>
<p>Then wave.</p>
</section>
<section id="what-lists">
<h3>What <code>lists</code> exist?</h3>
<p>Two kinds:</p>
<ul class="simple">
<li><p>bullet one</p></li>
<li><p>bullet <code>two</code></p></li>
</ul>
<ol class="arabic">
<li><p>Step with code:</p>
<div class="highlight"><pre><span>x</span> = 1
    y = 2
</pre></div>
<p>After   code.</p>
</li>
<li><p>Last step.</p></li>
</ol>
</section>
</section>
<section id="code">
<h2>Show code?<a class="headerlink" href="#code">¶</a></h2>
<p>Like this:</p>
<div class="highlight-python3"><div class="highlight"><pre><span class="gp">&gt;&gt;&gt; </span>print(&quot;a  b&quot;)&#32;&#32;&#32;
a  b
</pre></div></div>
<div class="admonition note"><p class="admonition-title">Note</p><p>Be careful.</p></div>
</section>
<section id="empty">
<h2>Nothing here<a class="headerlink" href="#empty">¶</a></h2>
</section>
</section>
</div>
<div class="footer"><p>Footer noise</p></div>
</body></html>
"""

EXPECTED_TIPS = [
    {
        "id": "tips#how-do-i-greet",
        "source": "tips.html",
        "question": "How do I greet",
        "answer": "Say hello to the friendly site.\n\nThen wave.",
    },
    {
        "id": "tips#what-lists",
        "source": "tips.html",
        "question": "What lists exist?",
        "answer": (
            "Two kinds:\n\n"
            "- bullet one\n"
            "- bullet two\n\n"
            "1. Step with code:\n\n"
            "x = 1\n"
            "    y = 2\n\n"
            "  After code.\n"
            "2. Last step."
        ),
    },
    {
        "id": "tips#code",
        "source": "tips.html",
        "question": "Show code?",
        "answer": 'Like this:\n\n>>> print("a  b")\na  b\n\nNote\n\nBe careful.',
    },
]


def _more_html(n: int = 12) -> str:
    sections = "\n".join(
        f'<section id="q{i}"><h2>Question number {i}?</h2><p>Answer number {i}.</p></section>'
        for i in range(n)
    )
    return f'<html><body><div role="main"><section id="more"><h1>More</h1>{sections}</section></div></body></html>'


@pytest.fixture
def html_dir(tmp_path: Path) -> Path:
    root = tmp_path / "html"
    faq_dir = root / "faq"
    faq_dir.mkdir(parents=True)
    (faq_dir / "tips.html").write_text(TIPS_HTML, encoding="utf-8")
    (faq_dir / "more.html").write_text(_more_html(), encoding="utf-8")
    (faq_dir / "index.html").write_text("<html><body>index</body></html>", encoding="utf-8")
    (root / "license.html").write_text("<html>licence</html>", encoding="utf-8")
    (root / "_sources").mkdir()
    (root / "_sources" / "license.rst.txt").write_text("licence |release|\n", encoding="utf-8")
    (root / "_sources" / "copyright.rst.txt").write_text("copyright\n", encoding="utf-8")
    return faq_dir


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_extract_entries_from_fixture():
    assert faq.extract_entries(TIPS_HTML, "tips") == EXPECTED_TIPS


def test_page_without_main_div_has_no_entries():
    assert (
        faq.extract_entries("<html><body><section id='a'><h2>Q?</h2><p>A.</p></section></body></html>", "x")
        == []
    )


def test_split_uses_sha256_prefix():
    # sha256 hex prefixes, computed by hand once:
    #   general#what-is-python          cf272258 -> 3475448408 % 100 = 8   -> test
    #   installed#what-is-python        f46044e9 -> 4099949801 % 100 = 1   -> test
    #   programming#what-is-delegation  e783d847 -> 3884177479 % 100 = 79  -> train
    #   faq#lists                       997b11ca -> 2574979530 % 100 = 30  -> train
    cases = {
        "general#what-is-python": ("cf272258", True),
        "installed#what-is-python": ("f46044e9", True),
        "programming#what-is-delegation": ("e783d847", False),
        "faq#lists": ("997b11ca", False),
    }
    for entry_id, (prefix, is_test) in cases.items():
        assert hashlib.sha256(entry_id.encode()).hexdigest()[:8] == prefix
        assert faq.is_test_id(entry_id) is is_test


def test_identical_answers_follow_first_bucket():
    entries = [
        {"id": "general#what-is-python", "source": "general.html", "question": "Q1", "answer": "same"},
        {"id": "faq#lists", "source": "faq.html", "question": "Q2", "answer": "same"},
        {"id": "programming#what-is-delegation", "source": "p.html", "question": "Q3", "answer": "other"},
    ]
    train, test = faq.split_entries(entries)
    assert [e["id"] for e in test] == ["general#what-is-python", "faq#lists"]
    assert [e["id"] for e in train] == ["programming#what-is-delegation"]


def test_build_outputs_and_determinism(html_dir: Path, tmp_path: Path):
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    assert faq.main(["--out", str(out1), "--html-dir", str(html_dir), "--no-pdf"]) == 0
    faq.build(html_dir, out2, pdf=False)

    names = ["qa", "qa.train", "qa.test", "pairs.train", "triplets.train", "scored.train"]
    for name in names:
        assert (out1 / f"{name}.jsonl").read_bytes() == (out2 / f"{name}.jsonl").read_bytes(), name

    qa = _read_jsonl(out1 / "qa.jsonl")
    assert [list(r) for r in qa] == [["id", "source", "question", "answer"]] * len(qa)
    assert qa[:12] == [
        {
            "id": f"more#q{i}",
            "source": "more.html",
            "question": f"Question number {i}?",
            "answer": f"Answer number {i}.",
        }
        for i in range(12)
    ]
    assert qa[12:] == EXPECTED_TIPS

    train = _read_jsonl(out1 / "qa.train.jsonl")
    test = _read_jsonl(out1 / "qa.test.jsonl")
    assert train + test == sorted(qa, key=lambda r: faq.is_test_id(r["id"]))  # stable: order kept
    assert all(faq.is_test_id(r["id"]) for r in test)
    assert not any(faq.is_test_id(r["id"]) for r in train)

    train_answers = {r["answer"] for r in train}
    pairs = _read_jsonl(out1 / "pairs.train.jsonl")
    assert pairs == [{"query": r["question"], "positive": [r["answer"]]} for r in train]

    triplets = _read_jsonl(out1 / "triplets.train.jsonl")
    assert len(triplets) == len(train)
    for row, entry in zip(triplets, train, strict=True):
        assert row["query"] == entry["question"] and row["positive"] == [entry["answer"]]
        assert len(row["negative"]) == 3 and len(set(row["negative"])) == 3
        assert entry["answer"] not in row["negative"]
        assert set(row["negative"]) <= train_answers

    scored = _read_jsonl(out1 / "scored.train.jsonl")
    assert [r["label"] for r in scored] == [1.0, 0.0] * len(train)
    for pos, neg, entry in zip(scored[::2], scored[1::2], train, strict=True):
        assert pos == {"query": entry["question"], "document": entry["answer"], "label": 1.0}
        assert neg["query"] == entry["question"] and neg["document"] != entry["answer"]
        assert neg["document"] in train_answers

    # corpus pages copied unchanged (index.html is not a corpus page), licence files copied
    assert sorted(p.name for p in (out1 / "corpus").iterdir()) == ["more.html", "tips.html"]
    assert (out1 / "corpus" / "tips.html").read_text(encoding="utf-8") == TIPS_HTML
    assert (out1 / "LICENSE.html").read_text(encoding="utf-8") == "<html>licence</html>"
    assert (out1 / "LICENSE.txt").read_text(encoding="utf-8") == "licence |release|\n"
    assert (out1 / "COPYRIGHT.txt").read_text(encoding="utf-8") == "copyright\n"


def test_page_order_follows_faq_index(tmp_path: Path):
    for name in ["zeta", "installed", "general", "index", "alpha", "programming"]:
        (tmp_path / f"{name}.html").write_text("<html></html>", encoding="utf-8")
    assert faq.list_pages(tmp_path) == ["general", "programming", "installed", "alpha", "zeta"]


def test_missing_html_dir_exits_with_install_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = faq.main(["--out", str(tmp_path / "out"), "--html-dir", str(tmp_path / "nope")])
    assert code == 2
    assert "apt-get install python3.11-doc" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_pdf_skipped_without_wkhtmltopdf(html_dir: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(faq.shutil, "which", lambda name: None)
    faq.build(html_dir, tmp_path / "out", pdf=True)
    assert "wkhtmltopdf not found" in capsys.readouterr().err
    assert not list((tmp_path / "out" / "corpus").glob("*.pdf"))
