"""What the five fine-tuning examples share: options, data paths, before/after evaluation and the report.

Every example trains on a python-faq training file, evaluates on ``qa.test.jsonl`` against every answer of
``qa.jsonl`` (exact cosine search, then optionally a reranker over the top ``--candidates``), and prints a
before/after table of nDCG@10, MRR@10 and Recall@10; ``--json`` writes the same numbers with the settings and
timings. This module only wires public functions of :mod:`finetune` together; it trains nothing itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.evaluation import EvalData, dense_run, load_qa, rerank_run
from finetune.metrics import evaluate_run

#: ``../shared/data/python-faq`` next to the repository, where the development data lives.
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "python-faq"
METRICS = ("ndcg@10", "mrr@10", "recall@10")
TEST_FILE, CORPUS_FILE = "qa.test.jsonl", "qa.jsonl"


def build_parser(
    description: str, *, model: str, train_file: str, output: str, epochs: float, embedder: bool = False
) -> argparse.ArgumentParser:
    """The options every example takes; ``embedder=True`` adds ``--embedder`` (the first stage of a reranker)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--model", default=model, help="model to fine-tune: bundled alias, local folder or hub id"
    )
    if embedder:
        parser.add_argument(
            "--embedder", default="minilm", help="first-stage embedder whose top candidates are reranked"
        )
        parser.add_argument(
            "--candidates", type=int, default=20, help="documents per query handed to the reranker"
        )
    parser.add_argument(
        "--data", type=Path, default=None, help=f"python-faq folder (default: {DEFAULT_DATA} when present)"
    )
    parser.add_argument(
        "--train", type=Path, default=None, help=f"training file (default: DATA/{train_file})"
    )
    parser.add_argument("--test", type=Path, default=None, help=f"test questions (default: DATA/{TEST_FILE})")
    parser.add_argument(
        "--corpus", type=Path, default=None, help=f"corpus, every answer (default: DATA/{CORPUS_FILE})"
    )
    parser.add_argument(
        "--output", type=Path, default=Path(output), help="where the fine-tuned model is written"
    )
    parser.add_argument("--epochs", type=float, default=epochs)
    parser.add_argument(
        "--max-steps", type=int, default=-1, help="stop after this many optimizer steps (-1: epochs)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="training batch size (default: the config's)"
    )
    parser.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: the config's for this kind)"
    )
    parser.add_argument(
        "--max-length", type=int, default=None, help="maximum tokens per text (default: the model's)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.set_defaults(train_file=train_file)
    return parser


@dataclass(frozen=True)
class Files:
    train: Path
    test: Path
    corpus: Path


def data_files(args: argparse.Namespace) -> Files:
    """The training, test and corpus files; exits with a message naming what is missing and the fix."""
    folder = args.data
    if folder is None and not all((args.train, args.test, args.corpus)):
        if not DEFAULT_DATA.is_dir():
            sys.exit(
                f"error: the python-faq data is not at {DEFAULT_DATA}. Pass --data FOLDER (a folder with "
                f"{args.train_file}, {TEST_FILE} and {CORPUS_FILE}), or --train, --test and --corpus."
            )
        folder = DEFAULT_DATA
    files = Files(
        train=args.train or folder / args.train_file,
        test=args.test or folder / TEST_FILE,
        corpus=args.corpus or folder / CORPUS_FILE,
    )
    for name, path in (("--train", files.train), ("--test", files.test), ("--corpus", files.corpus)):
        if not path.is_file():
            sys.exit(f"error: {path} does not exist ({name}); pass {name} FILE or --data FOLDER.")
    return files


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Training settings given on the command line (unset ones keep the config's defaults)."""
    overrides: dict[str, Any] = {
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "seed": args.seed,
        "save_checkpoints": False,
        "show_progress": sys.stderr.isatty(),
    }
    for name in ("batch_size", "lr", "max_length"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return overrides


def load_test(files: Files) -> EvalData:
    return load_qa(files.test, files.corpus)


def dense(embedder: Any, data: EvalData, depth: int = 10) -> dict[str, dict[str, float]]:
    """Each test question's top ``depth`` answers by cosine similarity."""
    return dense_run(embedder, data.queries, data.corpus, top_k=depth, show_progress=False)


def reranked(
    ranker: Any, data: EvalData, run: Mapping[str, Mapping[str, float]], depth: int, batch_size: int = 16
) -> dict[str, dict[str, float]]:
    """The first-stage ``run`` with its top ``depth`` rescored by ``ranker``."""
    return rerank_run(
        ranker,
        data.queries,
        data.corpus,
        run,
        top_k=depth,
        batch_size=batch_size,
        show_progress=sys.stderr.isatty(),
    )


def metrics(run: Mapping[str, Mapping[str, float]], data: EvalData) -> dict[str, float]:
    """nDCG@10, MRR@10, Recall@10 over every test question (a question without a run counts 0)."""
    return evaluate_run(run, data.qrels, METRICS, complete=True).mean


@dataclass
class Report:
    """Rows of the before/after table, with the settings and the time each stage took."""

    example: str
    settings: dict[str, Any]
    rows: list[tuple[str, dict[str, float]]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, label: str, values: dict[str, float]) -> None:
        self.rows.append((label, values))

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = round(time.perf_counter() - start, 2)

    def to_json(self) -> dict[str, Any]:
        before, after = self.rows[0][1], self.rows[-1][1]
        return {
            "example": self.example,
            "settings": self.settings,
            "results": [{"system": label, "metrics": values} for label, values in self.rows],
            "before": before,
            "after": after,
            "change": {m: after[m] - before[m] for m in METRICS},
            "seconds": self.seconds,
            **self.extra,
        }

    def show(self, json_path: Path | None) -> None:
        """Print the table (and write ``json_path``); the last row is compared with the first."""
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{self.example}: python-faq test questions")
        table.add_column("system")
        for name in METRICS:
            table.add_column(name, justify="right")
        for label, values in self.rows:
            table.add_row(label, *(f"{values[m]:.4f}" for m in METRICS))
        change = self.to_json()["change"]
        table.add_row("change (after - before)", *(f"{change[m]:+.4f}" for m in METRICS), style="bold")
        console = Console()
        console.print(table)
        console.print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
            console.print(f"results written to {json_path}")


def settings_of(args: argparse.Namespace, files: Files, **more: Any) -> dict[str, Any]:
    """The run's settings for the JSON record (paths as strings)."""
    record = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in vars(args).items() if k != "json"}
    record.update(train=str(files.train), test=str(files.test), corpus=str(files.corpus), **more)
    return record


def trained(result: Any) -> dict[str, Any]:
    """Where the model went, its loss and steps, and the effective training settings (defaults filled in)."""
    record = json.loads(Path(result.config_file).read_text(encoding="utf-8")) if result.config_file else {}
    return {
        "output": str(result.output_dir),
        "train_loss": result.train_loss,
        "steps": result.global_step,
        "learning_rate": record.get("learning_rate"),
        "training_config": record.get("config"),
    }


def add_mining_options(parser: argparse.ArgumentParser, rank_range: str, per_query: int) -> None:
    """``--hard-negatives`` and ``--per-query``: mine the training negatives with the first-stage embedder."""
    parser.add_argument(
        "--hard-negatives",
        default=rank_range,
        help="ranks (of the first-stage embedder over the training answers) to draw negatives from, as "
        "'LOW-HIGH'; 'none' trains on --train as it is",
    )
    parser.add_argument("--per-query", type=int, default=per_query, help="mined negatives kept per question")


def mined_training_file(args: argparse.Namespace, files: Files, embedder: Any, report: Report) -> Path:
    """``files.train``, or triplets mined from its pairs with ``embedder`` (written into ``--output``).

    The candidates are the training answers only (never the test answers), ranked by the same embedder
    whose top candidates the reranker will rescore, so the negatives look like what it sees at test time.
    """
    if str(args.hard_negatives).lower() == "none":
        return files.train
    from finetune.data import write_jsonl
    from finetune.mining import mine_hard_negatives

    mined = mine_hard_negatives(
        embedder,
        files.train,
        rank_range=args.hard_negatives,
        per_query=args.per_query,
        seed=args.seed,
        show_progress=False,
    )
    path = write_jsonl(Path(args.output) / "mined_triplets.jsonl", mined.triplets)
    report.extra["mining"] = {"file": str(path), **mined.stats.to_json()}
    return path


def main_guard(main: Callable[[], None]) -> None:
    """Run ``main`` with a short error (no traceback) for bad data, which names the file, line and field."""
    from finetune.data import DataError

    try:
        main()
    except (DataError, FileNotFoundError) as exc:
        sys.exit(f"error: {exc}")
