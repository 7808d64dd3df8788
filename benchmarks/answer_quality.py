"""Answer quality of the application's chain, per answer mode: correct, faithful, cited, refusing, timed.

The passages are measured elsewhere (``retrieval_suite.py``); this measures what the user reads. For each
question set, its documents are ingested with the project's pipeline (``Pipeline.ingest``, what ``rag-app
ingest`` runs) into a temporary Chroma folder; then, for each answer mode, the application is built as
``rag-app ask`` builds it (``rag_app.pipeline.build_pipeline(load_settings(index=..., generator={"answer_mode":
MODE, "max_new_tokens": N}))``, the generator loaded once and shared by every mode) and every question is
streamed through ``Pipeline.stream``. Every figure of the tables comes from that one run.

Question sets (``--sets``; a set whose data is missing is skipped with a message):

* ``sample``: ``benchmarks/data/sample-docs/questions.jsonl`` over the four documents of
  ``rag_app/sample_data`` (written for this project): answerable questions with key facts, and off-topic
  questions (``"answerable": false``) the documents do not cover, some of them near misses on the same
  product. Judged by :func:`answer_judge.judge_key_facts`.
* ``debian``: the ``--split`` (default ``test``) questions of ``../shared/data/debian-reference`` over its HTML
  pages, each with a verbatim gold span. Judged by :func:`answer_judge.judge_span`.
* ``faq``: ``qa.<split>.jsonl`` of ``../shared/data/python-faq`` over its HTML pages (as ``faq_eval.py``), the
  gold being the whole FAQ entry. Judged by :func:`answer_judge.judge_span` (per window).

The judging rules, and why, are in ``benchmarks/answer_judge.py``; ``--selftest`` checks the span rule on the
shipped data without any model (every gold covers itself; how often another question's gold, or a passage of
the gold's own page that is not the gold, would be accepted).

Per set and mode:

* **correct**: answerable questions judged correct (a refusal never is);
* **faithful**: mean, over answers that are not refusals, of the share of their sentences marked supported
  (``citation["supported"]``);
* **cite prec.**: of all sentences the model cited with ``[n]`` markers, the share whose cited passage
  supports them (``rag_app.citations.support`` of the sentence against that one passage); ``cited`` is how
  many there were;
* **refused off-topic** / **false refusals**: the "documents do not say" rate on off-topic and on answerable
  questions (:func:`answer_judge.is_refusal`);
* **gold given**: answerable questions whose gold passage was among the passages given to the model (the
  source file for ``sample``; the sets' own relevance rules of ``retrieval_suite.py`` for the others), to tell
  retrieval misses from answer misses;
* **TTFT p50** / **total p50**: seconds from the call to the first chunk with a non-empty ``answer`` or
  ``draft``, and to the last chunk, over the answers that are not the pipeline's fixed "The documents do not
  say" (given when no passage passes ``min_score``, without a model call; they count as refusals).

Then, per mode, three answers judged wrong and three judged right, with the reason. ``--json FILE`` writes
every answer: the passages given (id, source, text), the citations, the judgement and its evidence, the
refusal flag, faithful share, citation counts and times; and the summary.

Run: ``python benchmarks/answer_quality.py [--sets sample,debian,faq] [--modes generate,extract,verified]
[--limit N] [--max-new-tokens 384] [--json FILE]``; ``--selftest`` for the judge check.
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import answer_judge as aj
from faq_eval import (
    DATA_ROOT,
    SAMPLE_DOCS,
    SAMPLE_QUESTIONS,
    machine_note,
    make_console,
    percentile,
    print_table,
    progress,
    read_jsonl,
    shares_answer_text,
    write_json,
)

SETS = ("sample", "debian", "faq")
MODES = ("generate", "extract", "verified")
EXAMPLES = 3


# ------------------------------------------------------------------ question sets
@dataclass
class Question:
    id: str
    question: str
    answerable: bool
    gold: Any  # key facts (sample) or the gold span (debian, faq): what the answer is judged against
    judge: Callable[[str], aj.Judgement] | None  # None for off-topic questions
    gold_given: Callable[[Sequence[dict[str, Any]]], bool] | None  # whether the gold passage was given


@dataclass
class QuestionSet:
    name: str
    folder: Path
    glob: str
    questions: list[Question] = field(default_factory=list)


def load_sample_questions(path: Path = SAMPLE_QUESTIONS) -> list[dict[str, Any]]:
    """The sample-docs questions, checked: fields present, answerable ones with key facts that their own gold
    answer satisfies and their question does not (an answer repeating the question must not pass)."""
    records = read_jsonl(path)
    for record in records:
        where = f"{path}: {record.get('id')!r}"
        for name in ("id", "question", "answerable", "gold_answer", "key_facts", "source"):
            if name not in record:
                sys.exit(f"{where}: missing {name!r}")
        if record["answerable"]:
            if not aj.judge_key_facts(record["gold_answer"], record["key_facts"]).correct:
                sys.exit(f"{where}: its gold answer lacks its own key facts")
            echoed = aj.judge_key_facts(record["question"], record["key_facts"]).evidence["found"]
            if echoed:
                sys.exit(f"{where}: key facts {sorted(echoed)} are already in the question")
    return records


def sample_set(path: Path, docs: Path) -> QuestionSet:
    questions = []
    for r in load_sample_questions(path):
        facts = r["key_facts"]
        judge = (lambda answer, facts=facts: aj.judge_key_facts(answer, facts)) if r["answerable"] else None
        given = ((lambda sources, src=r["source"]: any(Path(str(s.get("source") or "")).name == src for s in sources))
                 if r["answerable"] else None)
        questions.append(Question(r["id"], r["question"], bool(r["answerable"]), facts, judge, given))
    return QuestionSet("sample", docs, "*", questions)


def debian_set(folder: Path, split: str) -> QuestionSet | None:
    from retrieval_suite import grams, holds_gold, normalise

    if not all((folder / n).exists() for n in ("questions.jsonl", "split.json", "corpus")):
        return None
    ids = json.loads((folder / "split.json").read_text(encoding="utf-8"))
    wanted = set(ids["train"]) | set(ids["test"]) if split == "all" else set(ids[split])
    questions = []
    for r in read_jsonl(folder / "questions.jsonl"):
        if r["id"] not in wanted:
            continue
        gold_grams = grams(normalise(r["gold"]))
        questions.append(Question(
            r["id"], r["question"], True, r["gold"],
            lambda answer, r=r: aj.judge_span(answer, r["gold"], r["question"]),
            lambda sources, g=gold_grams: any(holds_gold(str(s.get("text") or ""), g) for s in sources)))
    return QuestionSet("debian", folder / "corpus", "*.html", questions)


def faq_set(folder: Path, split: str) -> QuestionSet | None:
    splits = ["train", "test"] if split == "all" else [split]
    if not all((folder / f"qa.{s}.jsonl").is_file() for s in splits) or not (folder / "corpus").is_dir():
        return None
    questions = [
        Question(e["id"], e["question"], True, e["answer"],
                 lambda answer, e=e: aj.judge_span(answer, e["answer"], e["question"]),
                 lambda sources, e=e: any(shares_answer_text(str(s.get("text") or ""), s.get("source"), e)
                                          for s in sources))
        for s in splits for e in read_jsonl(folder / f"qa.{s}.jsonl")
    ]
    return QuestionSet("faq", folder / "corpus", "*.html", questions)


# ------------------------------------------------------------------ the citation support rule
def support_rule() -> tuple[str, Callable[[str, str], bool]]:
    """``(name, supports(sentence, passage_text))``: the project's own support check."""
    from rag_app.citations import support

    return "rag_app.citations.support", lambda sentence, text: support(sentence, text).supported


# ------------------------------------------------------------------ running
@contextmanager
def ingested(qset: QuestionSet, console: Any) -> Iterator[Path]:
    """Ingest the set's documents with the project's pipeline into a temporary Chroma folder."""
    from rag_app.config import load_settings
    from rag_app.pipeline import build_pipeline

    with tempfile.TemporaryDirectory(prefix="rag-app-answers-") as db:
        settings = load_settings(index={"db": Path(db), "collection": f"answers-{qset.name}"})
        started = time.perf_counter()
        with build_pipeline(settings, generator=False) as pipeline:
            report = pipeline.ingest([qset.folder], glob=qset.glob)
        if report.files_failed:
            sys.exit(f"{qset.name}: ingest failed: {[(f.source, f.error) for f in report.files_failed]}")
        console.print(f"{qset.name}: ingested {report.files_ingested} files of {qset.folder} ({qset.glob}), "
                      f"{report.chunks_total} chunks in {time.perf_counter() - started:.1f} s")
        yield Path(db)


def ask(pipeline: Any, question: str) -> tuple[dict[str, Any], float | None, float]:
    """Stream one question: the added-up output, seconds to the first answer (or draft) piece, total seconds."""
    from langchain_core.runnables.utils import AddableDict

    chunks, first = [], None
    started = time.perf_counter()
    for chunk in pipeline.stream(question):
        if first is None and (chunk.get("answer") or chunk.get("draft")):
            first = time.perf_counter() - started
        chunks.append(AddableDict(chunk))
    total = time.perf_counter() - started
    return functools.reduce(operator.add, chunks), first, total


def _unlabelled(answer: str) -> str:
    """The answer without the label of an extractive answer ("Quoted from the documents:"), which is the
    interface's, not the answer's."""
    from rag_app import chain

    label = getattr(chain, "QUOTED_LABEL", None)
    return answer[len(label):].lstrip() if label and answer.startswith(label) else answer


def judge_answer(q: Question, out: dict[str, Any], supports: Callable[[str, str], bool]) -> dict[str, Any]:
    """Everything judged about one answer (JSON-ready)."""
    answer = _unlabelled(str(out.get("answer") or ""))
    sources = list(out.get("sources") or [])
    citations = list(out.get("citations") or [])
    refused = aj.is_refusal(answer)
    judgement = q.judge(answer).as_dict() if q.judge is not None else None
    supported, cited = aj.citation_precision(citations, sources, supports)
    return {
        "correct": None if judgement is None else judgement["correct"],
        "judgement": judgement,
        "refused": refused,
        "gold_given": None if q.gold_given is None else q.gold_given(sources),
        "faithful": aj.faithful_share(citations),
        "cited_sentences": cited,
        "cited_supported": supported,
    }


def run_set(qset: QuestionSet, modes: Sequence[str], llm: Any, generator: dict[str, Any],
            supports: Callable[[str, str], bool], console: Any) -> list[dict[str, Any]]:
    from rag_app.config import load_settings
    from rag_app.pipeline import build_pipeline

    records = []
    with ingested(qset, console) as db:
        for mode in modes:
            settings = load_settings(index={"db": db, "collection": f"answers-{qset.name}"},
                                     generator={**generator, "answer_mode": mode})
            with build_pipeline(settings, llm=llm, require_documents=True) as pipeline:
                for q in progress(qset.questions, f"{qset.name}: {mode}"):
                    out, ttft, total = ask(pipeline, q.question)
                    records.append({
                        "set": qset.name, "mode": mode, "id": q.id, "question": q.question,
                        "answerable": q.answerable, "gold": q.gold, "answer": out.get("answer", ""),
                        "answer_mode": out.get("answer_mode"), "fallback": out.get("fallback"),
                        "draft": out.get("draft"),
                        "sources": [{"id": s.get("id"), "source": s.get("source"), "page": s.get("page"),
                                     "score": s.get("score"), "heading": s.get("heading"), "text": s.get("text")}
                                    for s in out.get("sources") or []],
                        "citations": out.get("citations") or [], "unknown_citations": out.get("unknown_citations") or [],
                        **judge_answer(q, out, supports), "ttft_s": ttft, "total_s": total,
                    })
    return records


# ------------------------------------------------------------------ figures
def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one set × mode (see the module docstring)."""
    answerable = [r for r in records if r["answerable"]]
    offtopic = [r for r in records if not r["answerable"]]
    answered = [r["faithful"] for r in records if not r["refused"] and r["faithful"] is not None]
    cited = sum(r["cited_sentences"] for r in records)
    timed = [r for r in records if not str(r["answer"]).startswith(aj.NO_ANSWER_PREFIX)]  # fixed text: untimed
    ttft = [r["ttft_s"] for r in timed if r["ttft_s"] is not None]
    modes = sorted({str(r["answer_mode"]) for r in records if r.get("answer_mode")})
    return {
        "answerable": len(answerable), "off_topic": len(offtopic),
        "correct": _share([bool(r["correct"]) for r in answerable]),
        "correct_n": sum(bool(r["correct"]) for r in answerable),
        "faithful": sum(answered) / len(answered) if answered else None,
        "citation_precision": sum(r["cited_supported"] for r in records) / cited if cited else None,
        "cited_sentences": cited,
        "refused_off_topic": _share([r["refused"] for r in offtopic]),
        "false_refusals": _share([r["refused"] for r in answerable]),
        "gold_given": _share([bool(r["gold_given"]) for r in answerable]),
        "fallbacks": sum(bool(r.get("fallback")) for r in records),
        "ttft_p50_s": percentile(ttft, 50) if ttft else None,
        "total_p50_s": percentile([r["total_s"] for r in timed], 50) if timed else None,
        "no_answer_fixed": len(records) - len(timed),
        "chain_answer_mode": ", ".join(modes) or "not reported",
    }


def why(record: dict[str, Any]) -> str:
    """The judgement's evidence in one line."""
    j = record["judgement"] or {}
    refusal = "refused; " if record["refused"] else ""
    if "found" in j:  # key facts
        found = ", ".join(f"{v!r}" for v in j["found"].values()) or "none"
        missing = ", ".join(" / ".join(m) if isinstance(m, list) else m for m in j["missing"]) or "none"
        return f"{refusal}key facts found: {found}; missing: {missing}"
    d_found, d_missing = j.get("distinctive_found", []), j.get("distinctive_missing", [])
    return (f"{refusal}distinctive {len(d_found)}/{len(d_found) + len(d_missing)} (need {j.get('distinctive_needed')}): "
            f"{', '.join(d_found[:6]) or '-'}; terms {j.get('terms_found')} (need {j.get('terms_needed')}), "
            f"content found: {', '.join(j.get('content_found', [])[:8]) or '-'}; missing: "
            f"{', '.join((d_missing + j.get('content_missing', []))[:8]) or '-'}")


def pick_examples(records: Sequence[dict[str, Any]], mode: str, correct: bool, n: int = EXAMPLES) -> list[dict[str, Any]]:
    """``n`` answers of ``mode`` judged ``correct`` (or not), taken from the sets in turn, in question order."""
    by_set: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["mode"] == mode and r["answerable"] and bool(r["correct"]) is correct:
            by_set.setdefault(r["set"], []).append(r)
    picked: list[dict[str, Any]] = []
    while len(picked) < n and any(by_set.values()):
        for pool in by_set.values():
            if pool and len(picked) < n:
                picked.append(pool.pop(0))
    return picked


def _short(text: str, limit: int = 260) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_examples(records: Sequence[dict[str, Any]], modes: Sequence[str], console: Any) -> dict[str, Any]:
    from rich.table import Table

    shown: dict[str, Any] = {}
    for mode in modes:
        for correct in (False, True):
            picked = pick_examples(records, mode, correct)
            shown[f"{mode} {'right' if correct else 'wrong'}"] = [
                {"set": r["set"], "id": r["id"], "question": r["question"], "answer": r["answer"], "why": why(r)}
                for r in picked]
            table = Table(title=f"{mode}: answers judged {'right' if correct else 'wrong'}", show_lines=True)
            for column in ("set / id", "question", "answer", "why"):
                table.add_column(column, overflow="fold")
            for r in picked:
                table.add_row(f"{r['set']} {r['id']}", _short(r["question"], 120), _short(r["answer"]), _short(why(r), 220))
            if picked:
                console.print(table)
            else:
                console.print(f"{mode}: no answer judged {'right' if correct else 'wrong'}")
    return shown


COLUMNS = ["set", "mode", "answerable", "correct", "faithful", "cite prec. (cited)", "refused off-topic",
           "false refusals", "gold given", "TTFT p50 s", "total p50 s", "chain mode"]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_rows(summary: dict[str, dict[str, dict[str, Any]]]) -> list[list[str]]:
    rows = []
    for name, per_mode in summary.items():
        for mode, m in per_mode.items():
            rows.append([name, mode, str(m["answerable"]), f"{_fmt(m['correct'])} ({m['correct_n']})", _fmt(m["faithful"]),
                         f"{_fmt(m['citation_precision'])} ({m['cited_sentences']})",
                         f"{_fmt(m['refused_off_topic'])}" + (f" of {m['off_topic']}" if m["off_topic"] else ""),
                         _fmt(m["false_refusals"]), _fmt(m["gold_given"]), _fmt(m["ttft_p50_s"], 2),
                         _fmt(m["total_p50_s"], 2), m["chain_answer_mode"]])
    return rows


# ------------------------------------------------------------------ the judge self-test
def selftest(data_root: Path, split: str, console: Any) -> dict[str, Any]:
    """The span rule on the shipped data, no model: golds accepted for their own question, other questions'
    golds (first 400 characters) accepted, and passages of the gold's own page that are not the gold."""
    from html.parser import HTMLParser

    from retrieval_suite import grams, normalise

    out: dict[str, Any] = {}
    debian = data_root / "debian-reference"
    if (debian / "questions.jsonl").is_file():
        records = read_jsonl(debian / "questions.jsonl")
        own = sum(aj.judge_span(r["gold"], r["gold"], r["question"]).correct for r in records)
        cross = sum(aj.judge_span(o["gold"], r["gold"], r["question"]).correct
                    for r in records for o in records if o is not r)

        class Visible(HTMLParser):
            def __init__(self) -> None:
                super().__init__(convert_charrefs=True)
                self.parts: list[str] = []
                self.skip = 0

            def handle_starttag(self, tag: str, attrs: Any) -> None:
                self.skip += tag in ("script", "style")

            def handle_endtag(self, tag: str) -> None:
                self.skip -= tag in ("script", "style") and self.skip > 0

            def handle_data(self, data: str) -> None:
                if not self.skip:
                    self.parts.append(data)

        pages: dict[str, list[str]] = {}
        same_page = same_page_n = 0
        for r in records:
            if r["file"] not in pages:
                parser = Visible()
                parser.feed((debian / "corpus" / r["file"]).read_text(encoding="utf-8"))
                sentences = re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", "".join(parser.parts)))
                pages[r["file"]] = [" ".join(sentences[i:i + 3])[:350] for i in range(0, len(sentences), 3)]
            gold = grams(normalise(r["gold"]))
            for window in pages[r["file"]]:
                if len(window) > 80 and len(gold & grams(normalise(window))) < 0.2 * len(gold):
                    same_page_n += 1
                    same_page += aj.judge_span(window, r["gold"], r["question"]).correct
        n = len(records)
        out["debian"] = {"golds": n, "own_gold_accepted": own, "other_golds_accepted": cross,
                         "other_gold_pairs": n * (n - 1), "same_page_passages_accepted": same_page,
                         "same_page_passages": same_page_n}
    faq = data_root / "python-faq"
    if (faq / "qa.jsonl").is_file():
        entries = read_jsonl(faq / "qa.jsonl")
        tests = entries if split == "all" else read_jsonl(faq / f"qa.{split}.jsonl")
        own = sum(aj.judge_span(e["answer"], e["answer"], e["question"]).correct for e in tests)
        cross = sum(aj.judge_span(o["answer"][:400], e["answer"], e["question"]).correct
                    for e in progress(tests, "faq self-test") for o in entries if o["id"] != e["id"])
        out["faq"] = {"golds": len(tests), "own_gold_accepted": own, "other_golds_accepted": cross,
                      "other_gold_pairs": len(tests) * (len(entries) - 1)}
    rows = []
    for name, r in out.items():
        rows.append([name, f"{r['own_gold_accepted']}/{r['golds']}",
                     f"{r['other_golds_accepted']}/{r['other_gold_pairs']} ({r['other_golds_accepted'] / r['other_gold_pairs']:.2%})",
                     f"{r['same_page_passages_accepted']}/{r['same_page_passages']} "
                     f"({r['same_page_passages_accepted'] / r['same_page_passages']:.2%})" if "same_page_passages" in r else "-"])
    print_table("Span rule self-test (no model)", ["set", "own gold accepted", "other gold accepted",
                                                   "same-page non-gold passage accepted"], rows, console)
    return out


# ------------------------------------------------------------------ main
def _csv(value: str, allowed: Sequence[str], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"{what}: choose from {', '.join(allowed)} (got {value!r})")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=lambda v: _csv(v, SETS, "--sets"), default=list(SETS),
                        help="comma-separated: sample,debian,faq (default all)")
    parser.add_argument("--modes", type=lambda v: _csv(v, (*MODES, "auto"), "--modes"), default=list(MODES),
                        help="comma-separated answer modes (default generate,extract,verified)")
    parser.add_argument("--context-chunks", type=int, default=None,
                        help="generator.context_chunks (default: the setting's default)")
    parser.add_argument("--limit", type=int, default=None, help="first N questions per set (smoke runs)")
    parser.add_argument("--max-new-tokens", type=int, default=384, help="generator.max_new_tokens (default 384)")
    parser.add_argument("--split", choices=["train", "test", "all"], default="test", help="debian and faq split")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder of the shared data sets")
    parser.add_argument("--debian", type=Path, default=None, help="debian-reference folder (default DATA_ROOT/...)")
    parser.add_argument("--faq", type=Path, default=None, help="python-faq folder (default DATA_ROOT/python-faq)")
    parser.add_argument("--sample", type=Path, default=SAMPLE_QUESTIONS, help="sample-docs questions.jsonl")
    parser.add_argument("--sample-docs", type=Path, default=SAMPLE_DOCS, help="the sample documents folder")
    parser.add_argument("--json", type=Path, default=None, help="also write every answer and figure here")
    parser.add_argument("--selftest", action="store_true", help="check the span rule on the data (no model) and exit")
    args = parser.parse_args()
    console = make_console()

    if args.selftest:
        write_json(args.json, {"selftest": selftest(args.data_root, args.split, console)})
        return

    qsets: list[QuestionSet] = []
    for name in args.sets:
        if name == "sample":
            found: QuestionSet | None = sample_set(args.sample, args.sample_docs)
            where = args.sample
        elif name == "debian":
            where = args.debian or args.data_root / "debian-reference"
            found = debian_set(where, args.split)
        else:
            where = args.faq or args.data_root / "python-faq"
            found = faq_set(where, args.split)
        if found is None:
            console.print(f"[yellow]skipped {name}[/]: no data in {where} (see README, 'Data for examples and benchmarks')")
            continue
        if args.limit is not None:
            found.questions = found.questions[: args.limit]
        qsets.append(found)

    if not qsets:
        sys.exit("no question set to run (see the messages above)")
    from rag_app.config import load_settings
    from rag_app.generators import build_generator

    generator: dict[str, Any] = {"max_new_tokens": args.max_new_tokens}
    if args.context_chunks is not None:
        generator["context_chunks"] = args.context_chunks
    base = load_settings(generator=generator)
    rule, supports = support_rule()
    console.print(f"{machine_note()}; generator {base.generator.backend} {base.generator.model}, max_new_tokens "
                  f"{args.max_new_tokens}, context_chunks {base.generator.context_chunks}; embedder {base.retrieval.embedder}, "
                  f"top_n {base.retrieval.top_n}; modes "
                  f"{', '.join(args.modes)}; citation support: {rule}")
    started = time.perf_counter()
    llm = build_generator(base.generator)
    console.print(f"generator loaded in {time.perf_counter() - started:.1f} s")
    records: list[dict[str, Any]] = []
    try:
        for qset in qsets:
            records.extend(run_set(qset, args.modes, llm, generator, supports, console))
    finally:
        client = getattr(llm, "client", None)
        if callable(getattr(client, "close", None)):
            client.close()

    summary = {q.name: {mode: summarise([r for r in records if r["set"] == q.name and r["mode"] == mode])
                        for mode in args.modes} for q in qsets}
    print_table(f"Answer quality ({args.split} split for debian/faq; {time.perf_counter() - started:.0f} s in all)",
                COLUMNS, summary_rows(summary), console)
    examples = print_examples(records, args.modes, console)
    write_json(args.json, {
        "machine": machine_note(), "split": args.split, "limit": args.limit, "modes": args.modes,
        "generator": base.generator.model_dump(mode="json", exclude={"answer_mode"}),
        "retrieval": base.retrieval.model_dump(mode="json"),
        "citation_support": rule,
        "judge": {"distinctive": [aj.DISTINCTIVE_SHARE, aj.DISTINCTIVE_CAP], "terms": [aj.TERMS_SHARE, aj.TERMS_CAP],
                  "window_chars": aj.WINDOW_CHARS},
        "summary": summary, "examples": examples, "answers": records,
    })


if __name__ == "__main__":
    main()
