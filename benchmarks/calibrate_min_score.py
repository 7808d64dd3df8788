"""Calibrate ``retrieval.min_score``: the best passage's score below which the chain says "the documents do not say".

Scores are on their scorer's own scale (the dense cosine similarity without a reranker; ColBERT MaxSim per query
token; an LLM's "Yes" logit; a cross-encoder's logit), so each scorer gets its own threshold
(``rag_app.retrieval.CALIBRATED_MIN_SCORES``).

Procedure: the python-faq HTML pages are ingested with ``rag-app ingest``'s defaults into a temporary Chroma
folder; every question gets the default retrieval's ``k`` = 20 candidates (dense), reranked when the scorer is
a reranker; its *top* score is kept (the chain drops passages below ``min_score``, so it answers only when the
best passage reaches it). Scorers: ``minilm dense`` (the default: no reranker, the dense cosine similarity) and,
with ``--all``, ``minilm colbert`` too; or any ``--reranker NAME --kind KIND``.

* answerable: the 39 test questions of ``qa.test.jsonl``;
* unanswerable: the 30 off-topic questions of :data:`OFF_TOPIC` below (cooking, geography, sports, everyday
  life, other programming languages' specifics), which the Python FAQ does not answer;
* checks, not used for the choice: ``--held-out`` (default 40) answerable questions drawn with a fixed seed from
  ``qa.train.jsonl``; and a second corpus, the project's sample documents (``rag_app/sample_data``), with the 12
  answerable questions of :data:`SAMPLE_QUESTIONS` (worded as a user would, not as the documents' headings) and
  the same off-topic questions.

The threshold (:func:`choose_threshold`) keeps at least ``--keep`` (95 %) of the answerable questions and
rejects as many off-topic ones as that allows; of the thresholds that do both, it takes the lowest, rounded up
to 0.01. The FAQ's questions are its pages' headings, which the chunks are embedded with, so they score higher
than users' questions do (the sample-documents check shows it): a threshold at the top of the allowed range
would wrongly answer "the documents do not say" to answerable questions, the costlier error (a passage that
does not answer is still filtered by the prompt, which tells the model to say so). The script prints the keep
and reject rates and draws the score distributions in ``<png-dir>/min_score_<model>_<kind>.png``.

Run: ``python benchmarks/calibrate_min_score.py [--data DIR] [--all | --reranker minilm --kind colbert]
[--png-dir DIR] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path
from typing import Any

from faq_eval import (
    SAMPLE_DOCS,
    data_dir,
    ingested_corpus,
    ingested_folder,
    load_questions,
    make_console,
    print_table,
    progress,
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
"""Questions the Python FAQ (and the sample documents) do not answer. Written for this project."""

SAMPLE_QUESTIONS: list[str] = [
    "How do I reset the station to factory settings?",
    "Which batteries does the outdoor sensor need?",
    "How often are readings uploaded to the cloud?",
    "How long is the warranty?",
    "Where should I mount the outdoor sensor?",
    "What do the dashes on the display mean?",
    "How do I correct the rain gauge if it reads too low?",
    "How far can the sensor be from the display?",
    "When are firmware updates installed?",
    "How many extra indoor sensors can I add?",
    "How long is my data kept in the cloud?",
    "What comes in the box?",
]
"""Questions that ``rag_app/sample_data`` (the project's sample documents) answers, worded as a user would."""

BUNDLED = [("minilm", "dense"), ("minilm", "colbert")]
"""The scorers ``--all`` calibrates. The SmolLM2 yes/no reranker is not among them: it ranks far worse than no
reranker and takes ~10 s per question (``benchmarks/rerankers.py``)."""
KINDS = ["dense", "colbert", "llm", "cross-encoder"]


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


def _rate(scores: list[float], threshold: float, above: bool) -> float:
    return sum((s >= threshold) == above for s in scores) / len(scores)


def _plot(path: Path, title: str, groups: dict[str, list[float]], threshold: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [v for scores in groups.values() for v in scores]
    low, high = min(values), max(values)
    bins = [low + (high - low) * i / 30 for i in range(31)]
    fig, ax = plt.subplots(figsize=(9.5, 4))
    for (name, scores), color in zip(groups.items(), ("tab:blue", "tab:red", "tab:green", "tab:orange"), strict=False):
        ax.hist(scores, bins=bins, alpha=0.5, label=f"{name} ({len(scores)})", color=color)
    ax.axvline(threshold, color="black", linestyle="--", label=f"min_score = {threshold:.2f}")
    ax.set_xlabel("score of the best passage for the question")
    ax.set_ylabel("questions")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="python-faq folder (default: ../shared/data/python-faq)")
    parser.add_argument("--reranker", default="minilm",
                        help="the model to calibrate: the embedder with --kind dense, else a reranker (default minilm)")
    parser.add_argument("--kind", default="dense", choices=KINDS,
                        help="dense: no reranker, the dense cosine (the default); or the reranker's kind")
    parser.add_argument("--all", action="store_true", help="calibrate minilm dense and minilm colbert")
    parser.add_argument("--keep", type=float, default=0.95, help="share of answerable questions to keep (default 0.95)")
    parser.add_argument("--held-out", type=int, default=40, help="train questions to check the threshold on (default 40)")
    parser.add_argument("--k", type=int, default=20, help="candidates retrieved, then reranked (default 20)")
    parser.add_argument("--png-dir", type=Path, default=Path("."), help="folder for the distribution PNGs (default .)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    if not 0 < args.keep <= 1:
        parser.error(f"--keep must be in (0, 1]; got {args.keep}")
    data = data_dir(args.data)
    answerable = load_questions(data)
    train = load_questions(data, "train")
    held_out = random.Random(0).sample(train, min(args.held_out, len(train)))
    groups = {"answerable (test)": [q["question"] for q in answerable], "off-topic": OFF_TOPIC,
              "held out (train)": [q["question"] for q in held_out]}
    targets = BUNDLED if args.all else [(args.reranker, args.kind)]

    console = make_console()
    faq: dict[tuple[str, str], dict[str, list[float]]] = {}
    sample: dict[tuple[str, str], dict[str, list[float]]] = {}
    with ingested_corpus(data, console, reranker="", mode="dense", k=args.k) as base:
        for model, kind in targets:
            faq[model, kind] = _top_scores(base, model, kind, groups)
    with ingested_folder(SAMPLE_DOCS, "*", console, reranker="", mode="dense", k=args.k) as base:
        for model, kind in targets:
            sample[model, kind] = _top_scores(base, model, kind, {"answerable": SAMPLE_QUESTIONS, "off-topic": OFF_TOPIC})

    from rag_app.retrieval import min_score_for

    rows: list[tuple[Any, ...]] = []
    results = []
    for model, kind in targets:
        tops, other = faq[model, kind], sample[model, kind]
        current = min_score_for(_scorer_settings(model, kind))  # the value in use before this run
        threshold = choose_threshold(tops["answerable (test)"], tops["off-topic"], args.keep)
        rates = {
            "answerable_kept": _rate(tops["answerable (test)"], threshold, above=True),
            "off_topic_rejected": _rate(tops["off-topic"], threshold, above=False),
            "held_out_kept": _rate(tops["held out (train)"], threshold, above=True),
            "sample_docs_kept": _rate(other["answerable"], threshold, above=True),
            "sample_docs_off_topic_rejected": _rate(other["off-topic"], threshold, above=False),
        }
        png = args.png_dir / f"min_score_{Path(model).name}_{kind}.png"
        _plot(png, f"Best passage's score per question: {model} ({kind})",
              {**tops, "sample docs, answerable": other["answerable"]}, threshold)
        rows.append((f"{model}, {kind}", f"{threshold:.2f}", *(f"{v:.1%}" for v in rates.values()),
                     f"{min(tops['answerable (test)']):.3f} / {max(tops['off-topic']):.3f}", str(current)))
        results.append({"model": model, "kind": kind, "min_score": threshold, **rates, "in_use": current,
                        "png": str(png), "top_scores": tops, "sample_docs_top_scores": other})
        console.print(f"{model} ({kind}): distribution plot written to {png}")
    print_table(
        f"min_score calibration on python-faq (keep >= {args.keep:.0%} of {len(answerable)} answerable, "
        f"{len(OFF_TOPIC)} off-topic; checks: {len(held_out)} held-out train questions, sample documents with "
        f"{len(SAMPLE_QUESTIONS)} answerable and the off-topic questions)",
        ["scorer", "min_score", "answerable kept", "off-topic rejected", "held out kept", "sample docs kept",
         "sample docs off-topic rejected", "lowest answerable / highest off-topic", "in CALIBRATED_MIN_SCORES now"],
        rows, console,
    )
    console.print("For rag_app/retrieval.py CALIBRATED_MIN_SCORES: "
                  + ", ".join(f"({r['model']!r}, {r['kind']!r}): {r['min_score']}" for r in results))
    write_json(args.json, {"keep": args.keep, "k": args.k, "results": results})


def _scorer_settings(model: str, kind: str) -> dict[str, Any]:
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
