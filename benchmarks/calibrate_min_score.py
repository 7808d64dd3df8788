"""Calibrate ``retrieval.min_score``: the best passage's score below which the chain says "the documents do not say".

Scores are on their scorer's own scale (the dense cosine similarity without a reranker; ColBERT MaxSim per query
token; an LLM's "Yes" logit; a cross-encoder's logit), so each scorer gets its own threshold
(``rag_app.retrieval.CALIBRATED_MIN_SCORES``).

The threshold is chosen on manual-shaped documents (the project's rule: choose defaults on manual-shaped
corpora, tune on train, report test), not on python-faq, whose questions are its section headings and so score
higher than users' questions do. Every corpus is ingested with ``rag-app ingest``'s defaults (its HTML pages,
through :meth:`rag_app.pipeline.Pipeline.ingest`, as ``benchmarks/retrieval_suite.py`` does) into a temporary
Chroma folder; every question gets the default retrieval's ``k`` = 20 candidates (dense), reranked when the
scorer is a reranker; its *top* score is kept (the chain drops passages below ``min_score``, so it answers only
when the best passage reaches it). Scorers: ``minilm dense`` (the default: no reranker, the dense cosine
similarity) and, with ``--all``, ``minilm colbert`` too; or any ``--reranker NAME --kind KIND``.

* choice set: the *train* questions of the Debian Reference (``../shared/data/debian-reference``, 40) and, when
  it has been built (``scripts/build_manual_corpus.py debian-policy``), of the Debian Policy manual
  (``../shared/data/debian-policy``, 25), as answerable, their top scores pooled; as unanswerable, the 30
  generic off-topic questions of :data:`OFF_TOPIC` (cooking, geography, sports, everyday life, other
  programming languages' specifics) on each manual.
* checks, not used for the choice: the manuals' *test* questions (80 and 50); python-faq's 39 test questions
  and the off-topic ones on it; the project's sample documents (``rag_app/sample_data``) with the questions of
  ``benchmarks/data/sample-docs/questions.jsonl`` (47 answerable, worded as a user would, and 10 unanswerable,
  8 of them near misses about the same product) and the generic off-topic ones.

The threshold (:func:`choose_threshold`) keeps at least ``--keep`` (95 %) of the answerable questions and
rejects as many off-topic ones as that allows; of the thresholds that do both, it takes the lowest, rounded up
to 0.01: a wrong "the documents do not say" costs more than a weak passage, which the prompt tells the model to
refuse. For every set the script reports the share kept / rejected and the **margin**: the 5th percentile of
the answerable scores minus the highest off-topic score (negative: the two overlap, and no threshold keeps 95 %
of the one while rejecting all of the other). Near-miss questions (about the product, on a point the documents
do not cover) score like answerable ones: no passage threshold separates them; that is the answer step's job.
The score distributions go to ``<png-dir>/min_score_<model>_<kind>.png``.

Run: ``python benchmarks/calibrate_min_score.py [--all | --reranker minilm --kind colbert] [--png-dir DIR]
[--json out.json] [--reference DIR] [--policy DIR] [--data FAQ_DIR]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faq_eval import (
    DATA_ROOT,
    SAMPLE_DOCS,
    SAMPLE_QUESTIONS,
    data_dir,
    ingested_folder,
    load_questions,
    make_console,
    percentile,
    print_table,
    progress,
    read_jsonl,
    write_json,
)

OFF_TOPIC: list[str] = [
    # cooking
    "How long should I boil an egg to get a soft yolk?",
    "What oven temperature is best for baking sourdough bread?",
    "How do I make a dark roux for a gumbo?",
    "Can I use baking soda instead of baking powder in a sponge cake?",
    "How do I stop guacamole from turning brown?",
    # geography
    "What is the capital city of Australia?",
    "Which river flows through Budapest?",
    "How high is Mount Kilimanjaro?",
    "Which countries share a border with Bolivia?",
    "What is the largest desert in Asia?",
    # sports
    "How many players are on a rugby union team?",
    "How does the offside rule work in association football?",
    "Who won the first Tour de France?",
    "How is a tie-break scored in tennis?",
    "How long is a marathon in kilometres?",
    # other programming languages' specifics
    "How do I declare a lifetime parameter on a struct in Rust?",
    "How do goroutines send values to each other through channels in Go?",
    "How do I give std::unique_ptr a custom deleter in C++?",
    "What is the difference between let and var in JavaScript?",
    "How do I pattern match on an Option in Scala?",
    "How do I configure Gradle for a Kotlin multiplatform project?",
    "What does the Maybe monad do in Haskell do-notation?",
    "How do I generate a database migration in Ruby on Rails?",
    "How do I declare a generic interface in TypeScript?",
    "How do I center a div with CSS flexbox?",
    # everyday life
    "How do I fix a flat tyre on a bicycle?",
    "When should I plant tulip bulbs?",
    "How do I descale an espresso machine?",
    "What causes the northern lights?",
    "How can I improve my credit score?",
]
"""Generic questions none of the corpora (the Debian manuals, the Python FAQ, the sample documents) answers.
Written for this project."""

BUNDLED = [("minilm", "dense"), ("minilm", "colbert")]
"""The scorers ``--all`` calibrates. The SmolLM2 yes/no reranker is not among them: it ranks far worse than no
reranker and takes ~10 s per question (``benchmarks/rerankers.py``)."""
KINDS = ["dense", "colbert", "llm", "cross-encoder"]


@dataclass
class Corpus:
    """One ingested folder and its question groups (name -> questions)."""

    key: str
    folder: Path
    glob: str
    groups: dict[str, list[str]]


@dataclass
class Check:
    """One row of the report: answerable and off-topic groups, each a list of (corpus key, group name)."""

    name: str
    answerable: list[tuple[str, str]]
    off_topic: list[tuple[str, str]]
    choice: bool = False


def choose_threshold(answerable: list[float], unanswerable: list[float], keep: float) -> float:
    """The lowest threshold (scores >= it pass), rounded up to 0.01, that keeps at least ``keep`` of
    ``answerable`` and rejects as many of ``unanswerable`` as any threshold keeping that many does.

    ``high``, the highest threshold keeping ``keep`` of the answerable scores, rejects the most; every threshold
    above ``low``, the highest unanswerable score below ``high``, rejects the same ones. The result is just
    above ``low`` (never above ``high``): the threshold that drops the fewest answerable questions.

    >>> choose_threshold([0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.95], keep=0.75)
    0.21
    """
    needed = math.ceil(keep * len(answerable) - 1e-9)
    high = sorted(answerable, reverse=True)[needed - 1]
    below = [score for score in unanswerable if score < high]
    if not below:
        return math.floor(min(answerable) * 100) / 100
    return min(math.floor(max(below) * 100 + 1) / 100, high)


def margin(answerable: list[float], off_topic: list[float]) -> float:
    """The 5th percentile of the answerable scores minus the highest off-topic score: negative when they overlap.

    >>> round(margin([0.5, 0.6, 0.7], [0.2, 0.3]), 3)
    0.21
    """
    return percentile(answerable, 5) - max(off_topic)


def manual_questions(folder: Path) -> dict[str, list[str]] | None:
    """A manual set's questions by split (``train``, ``test``), or ``None`` when the set is not built there."""
    if not all((folder / name).exists() for name in ("questions.jsonl", "split.json", "corpus")):
        return None
    split = json.loads((folder / "split.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: r["question"] for r in read_jsonl(folder / "questions.jsonl")}
    return {name: [by_id[i] for i in split[name]] for name in ("train", "test")}


def sample_questions(path: Path) -> tuple[list[str], list[str]]:
    """The answerable and the unanswerable questions of the sample documents' question set."""
    records = read_jsonl(path)
    if not records or any(not isinstance(r.get("answerable"), bool) or not r.get("question") for r in records):
        sys.exit(f"{path}: every line needs a 'question' and a boolean 'answerable'")
    return [r["question"] for r in records if r["answerable"]], [r["question"] for r in records if not r["answerable"]]


def _rate(scores: list[float], threshold: float, above: bool) -> tuple[int, int]:
    return sum((s >= threshold) == above for s in scores), len(scores)


def _plot(path: Path, title: str, groups: dict[str, tuple[list[float], bool]], threshold: float) -> None:
    """One row of dots per group (answerable in blues and greens, off-topic in reds), the threshold a line."""
    import random

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    answer_colours = iter(["tab:blue", "tab:cyan", "tab:green", "tab:olive", "tab:purple", "navy", "teal"])
    off_colours = iter(["tab:red", "tab:orange", "tab:brown", "tab:pink", "darkred", "gold", "salmon"])
    jitter = random.Random(0)
    names = list(groups)
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(names) + 1.6))
    for row, name in enumerate(reversed(names)):
        scores, answerable = groups[name]
        colour = next(answer_colours if answerable else off_colours)
        ax.scatter(scores, [row + jitter.uniform(-0.25, 0.25) for _ in scores], s=12, alpha=0.6, color=colour)
        ax.plot([percentile(scores, 5)] * 2 if answerable else [max(scores)] * 2, [row - 0.4, row + 0.4],
                color=colour, linewidth=2)
    line = ax.axvline(threshold, color="black", linestyle="--", label=f"min_score = {threshold:.2f}")
    ax.legend(handles=[line], loc="lower right", fontsize="small")
    ax.set_yticks(range(len(names)), [f"{n} ({len(groups[n][0])})" for n in reversed(names)], fontsize="small")
    ax.set_xlabel("score of the best passage for the question (bar: 5th percentile of answerable, max of off-topic)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, default=DATA_ROOT / "debian-reference",
                        help="the Debian Reference set (default: ../shared/data/debian-reference)")
    parser.add_argument("--policy", type=Path, default=DATA_ROOT / "debian-policy",
                        help="the Debian Policy set, skipped when not built (default: ../shared/data/debian-policy)")
    parser.add_argument("--data", type=Path, default=None, help="python-faq folder (default: ../shared/data/python-faq)")
    parser.add_argument("--sample-questions", type=Path, default=SAMPLE_QUESTIONS,
                        help="the sample documents' questions (default: benchmarks/data/sample-docs/questions.jsonl)")
    parser.add_argument("--reranker", default="minilm",
                        help="the model to calibrate: the embedder with --kind dense, else a reranker (default minilm)")
    parser.add_argument("--kind", default="dense", choices=KINDS,
                        help="dense: no reranker, the dense cosine (the default); or the reranker's kind")
    parser.add_argument("--all", action="store_true", help="calibrate minilm dense and minilm colbert")
    parser.add_argument("--keep", type=float, default=0.95, help="share of answerable questions to keep (default 0.95)")
    parser.add_argument("--k", type=int, default=20, help="candidates retrieved, then reranked (default 20)")
    parser.add_argument("--png-dir", type=Path, default=Path("."), help="folder for the distribution PNGs (default .)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    if not 0 < args.keep <= 1:
        parser.error(f"--keep must be in (0, 1]; got {args.keep}")
    console = make_console()

    reference = manual_questions(args.reference)
    if reference is None:
        sys.exit(f"the Debian Reference set is not in {args.reference} (questions.jsonl, split.json, corpus/): "
                 "pass --reference DIR; see its README")
    corpora = [Corpus("reference", args.reference / "corpus", "*.html", {**reference, "generic off-topic": OFF_TOPIC})]
    policy = manual_questions(args.policy)
    if policy is None:
        console.print(f"[yellow]Debian Policy set not found in {args.policy}: calibrating on the Debian Reference "
                      "alone (build it with scripts/build_manual_corpus.py debian-policy)[/yellow]")
    else:
        corpora.append(Corpus("policy", args.policy / "corpus", "*.html", {**policy, "generic off-topic": OFF_TOPIC}))
    faq = data_dir(args.data)
    corpora.append(Corpus("faq", faq / "corpus", "*.html",
                          {"test": [q["question"] for q in load_questions(faq)], "generic off-topic": OFF_TOPIC}))
    sample_answerable, sample_unanswerable = sample_questions(args.sample_questions)
    corpora.append(Corpus("sample", SAMPLE_DOCS, "*", {"answerable": sample_answerable,
                                                      "own off-topic": sample_unanswerable,
                                                      "generic off-topic": OFF_TOPIC}))

    manuals = [c.key for c in corpora if c.key in ("reference", "policy")]
    label = {"reference": "Debian Reference", "policy": "Debian Policy"}
    checks = [Check("manuals' train (choice)" if len(manuals) > 1 else "Debian Reference train (choice)",
                    [(m, "train") for m in manuals], [(m, "generic off-topic") for m in manuals], choice=True)]
    checks += [Check(f"{label[m]} test", [(m, "test")], [(m, "generic off-topic")]) for m in manuals]
    checks += [
        Check("python-faq test", [("faq", "test")], [("faq", "generic off-topic")]),
        Check("sample docs, generic off-topic", [("sample", "answerable")], [("sample", "generic off-topic")]),
        Check("sample docs, own off-topic", [("sample", "answerable")], [("sample", "own off-topic")]),
    ]

    targets = BUNDLED if args.all else [(args.reranker, args.kind)]
    tops: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = {t: {} for t in targets}
    for corpus in corpora:
        with ingested_folder(corpus.folder, corpus.glob, console, reranker="", mode="dense", k=args.k) as base:
            for model, kind in targets:
                tops[model, kind][corpus.key] = _top_scores(base, model, kind, corpus.groups)

    from rag_app.retrieval import min_score_for

    results = []
    for model, kind in targets:
        scores = tops[model, kind]

        def pooled(groups: list[tuple[str, str]], scores: dict[str, dict[str, list[float]]] = scores) -> list[float]:
            return [s for key, group in groups for s in scores[key][group]]

        choice = checks[0]
        threshold = choose_threshold(pooled(choice.answerable), pooled(choice.off_topic), args.keep)
        current = min_score_for(_scorer_settings(model, kind))  # the value in use before this run
        rows, sets = [], []
        for check in checks:
            answerable, off_topic = pooled(check.answerable), pooled(check.off_topic)
            kept, rejected = _rate(answerable, threshold, above=True), _rate(off_topic, threshold, above=False)
            p5, highest = percentile(answerable, 5), max(off_topic)
            gap = margin(answerable, off_topic)
            sets.append({"set": check.name, "choice": check.choice, "answerable_kept": kept[0], "answerable": kept[1],
                         "off_topic_rejected": rejected[0], "off_topic": rejected[1], "answerable_p5": p5,
                         "answerable_min": min(answerable), "off_topic_max": highest, "margin": gap})
            rows.append((check.name, f"{kept[0]}/{kept[1]} ({kept[0] / kept[1]:.0%})",
                         f"{rejected[0]}/{rejected[1]} ({rejected[0] / rejected[1]:.0%})",
                         f"{min(answerable):.3f}", f"{p5:.3f}", f"{highest:.3f}",
                         f"{gap:+.3f}" + (" (overlap)" if gap < 0 else "")))
        print_table(
            f"{model} ({kind}): min_score {threshold:.2f}, chosen on the first row (keep >= {args.keep:.0%} of its "
            f"answerable questions); in CALIBRATED_MIN_SCORES before this run: {current}",
            ["set", "answerable kept", "off-topic rejected", "lowest answerable", "answerable p5",
             "highest off-topic", "margin (p5 - highest)"],
            rows, console,
        )
        png = args.png_dir / f"min_score_{Path(model).name}_{kind}.png"
        plot_groups: dict[str, tuple[list[float], bool]] = {}
        for corpus in corpora:
            for group, values in scores[corpus.key].items():
                name = {"reference": "Debian Reference", "policy": "Debian Policy", "faq": "python-faq",
                        "sample": "sample docs"}[corpus.key]
                plot_groups[f"{name}: {group}"] = (values, "off-topic" not in group)
        _plot(png, f"{model} ({kind}): the best passage's score per question",
              plot_groups, threshold)
        console.print(f"{model} ({kind}): distribution plot written to {png}")
        results.append({"model": model, "kind": kind, "min_score": threshold, "in_use": current, "sets": sets,
                        "png": str(png), "top_scores": scores})
    console.print("For rag_app/retrieval.py CALIBRATED_MIN_SCORES: "
                  + ", ".join(f"({r['model']!r}, {r['kind']!r}): {r['min_score']}" for r in results))
    write_json(args.json, {"keep": args.keep, "k": args.k, "manuals": manuals, "results": results})


def _scorer_settings(model: str, kind: str) -> Any:
    """The retrieval settings that make ``(model, kind)`` the scorer."""
    from rag_app.config import RetrievalSettings

    if kind == "dense":
        return RetrievalSettings(mode="dense", embedder=model, reranker=None)
    return RetrievalSettings(mode="dense", reranker=model, reranker_kind=kind)


def _top_scores(base: Any, model: str, kind: str, groups: dict[str, list[str]]) -> dict[str, list[float]]:
    """The best passage's score for every question of every group, over the collection of ``base`` settings:
    the pipeline's passages (retrieve, rerank) before any ``min_score``."""
    from rag_app.pipeline import build_pipeline

    scorer = {"embedder": model, "reranker": ""} if kind == "dense" else {"reranker": model, "reranker_kind": kind}
    settings = base.model_copy(update={"retrieval": base.retrieval.model_copy(update=scorer)})
    tops: dict[str, list[float]] = {}
    with build_pipeline(settings, generator=False, require_documents=True) as pipeline:
        best = pipeline.passages.model_copy(update={"min_score": None, "top_n": 1})
        for name, questions in groups.items():
            tops[name] = []
            for question in progress(questions, f"{model} {kind}: {name}"):
                docs = best.invoke(question)
                tops[name].append(float(docs[0].metadata["relevance_score"]))
    return tops


if __name__ == "__main__":
    main()
