"""``rag-app finetune mine|embedder|reranker`` and ``rag-app eval``: fine-tune the retriever and measure it.

Registered in :mod:`rag_app.cli` (``app.add_typer(finetune_app, name="finetune")`` and
``app.command("eval")(eval_command)``). The work is done by :mod:`finetune`; these wrappers parse options,
show progress and results with rich, and turn bad input (a :class:`~finetune.data.DataError` listing every
bad line, a missing file or model, an impossible option) into a message on stderr and exit code 2.

The training commands share their options and their run (:func:`_training_command`): each declares only
the options of its own model and says which trainer to call. Reranker kinds are
:data:`retrievers.names.RERANKER_KINDS`. Nothing here trains, loads or scores a model itself.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from retrievers.names import RERANKER_KINDS

__all__ = ["eval_command", "finetune_app"]

finetune_app = typer.Typer(help="Fine-tune embedders and rerankers on your own pairs; mine hard negatives.",
                           no_args_is_help=True)
console = Console()


@contextmanager
def _user_errors() -> Iterator[None]:
    """Bad data, files, models or settings: the message on stderr, exit code 2 (no traceback)."""
    from finetune.data import DataError
    from retrievers import ModelNotFoundError

    try:
        yield
    except (DataError, ModelNotFoundError, FileNotFoundError, ValueError) as exc:
        Console(stderr=True).print(str(exc), style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _setup(quiet: bool = False) -> None:
    """Quiet (``--json``): no transformers progress bars on stderr, only the JSON on stdout."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if quiet:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def _choice(value: str | None, allowed: tuple[str, ...], hint: str) -> None:
    if value is not None and value not in allowed:
        raise typer.BadParameter(f"choose one of {', '.join(allowed)}; got {value!r}.", param_hint=hint)


# ---------------------------------------------------------------------------------------------- mine
@finetune_app.command()
def mine(
    data: Annotated[Path, typer.Option("--data", help='Pairs JSONL: {"query": ..., "positive": [...]} lines.')],
    model: Annotated[str, typer.Option("--model", help="Embedder that ranks the candidates: bundled alias, folder or hub id.")],
    output: Annotated[Path, typer.Option("--output", help="Triplets JSONL to write (replaced atomically).")],
    corpus: Annotated[Path | None, typer.Option("--corpus", help='Candidate texts: JSONL of {"text"} / {"id", "text"} / {"id", "answer"} lines, or a BEIR folder or corpus.jsonl \\[default: the positives of --data].')] = None,
    rank_range: Annotated[str, typer.Option("--range", help="Ranks to draw negatives from, 1-based and inclusive, counted without the positives.")] = "10-50",
    margin: Annotated[float, typer.Option("--margin", help="Drop candidates scoring within this much of the positive (likely unlabelled answers).")] = 0.1,
    relative: Annotated[bool, typer.Option("--relative", help="Read --margin as a fraction of the positive's score (e.g. 0.05).")] = False,
    per_query: Annotated[int, typer.Option("--per-query", help="Negatives kept per query.")] = 7,
    strategy: Annotated[str, typer.Option("--strategy", help="random: a seeded sample of the candidates; top: the hardest ones.")] = "random",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random sample.")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts per embedding batch.")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as one JSON object.")] = False,
) -> None:
    """Add hard negatives to (query, positive) pairs: documents the embedder ranks high that are not answers."""
    _setup(as_json)
    _choice(strategy, ("random", "top"), "--strategy")
    from finetune.data import write_jsonl
    from finetune.evaluation import load_corpus
    from finetune.mining import mine_hard_negatives, parse_rank_range
    from retrievers import AutoModelForEmbedding

    with _user_errors():
        ranks = parse_rank_range(rank_range)
        texts = load_corpus(corpus) if corpus is not None else None
        embedder = AutoModelForEmbedding.from_pretrained(model)
        result = mine_hard_negatives(embedder, data, texts, rank_range=ranks, margin=margin, relative=relative,
                                     per_query=per_query, strategy=strategy, seed=seed,  # type: ignore[arg-type]
                                     batch_size=batch_size, show_progress=not as_json)
        if not result.triplets:
            raise ValueError(
                f"No query kept a negative ({result.stats.dropped_by_margin} candidates fell within the margin); "
                "widen --range, lower --margin or give a larger --corpus."
            )
    write_jsonl(output, result.triplets)
    stats = result.stats
    if as_json:
        typer.echo(json.dumps({"output": str(output), **stats.to_json()}))
        return
    table = Table(title=f"Hard negatives from {model} -> {output}")
    for col in ("queries", "triplets", "negatives", "corpus", "dropped (margin)", "no negative"):
        table.add_column(col, justify="right")
    table.add_row(*(str(v) for v in (stats.queries, stats.triplets, stats.negatives, stats.corpus_size,
                                      stats.dropped_by_margin, stats.without_negatives)))
    console.print(table)
    if stats.without_negatives:
        console.print(f"[yellow]{stats.without_negatives} quer{'y' if stats.without_negatives == 1 else 'ies'} got no "
                      "negative and were left out;[/] widen --range or lower --margin to keep them.")


# ---------------------------------------------------------------------------------------------- training
DataOption = Annotated[Path, typer.Option("--data", help="Training JSONL: pairs, triplets or scored pairs (kind detected from the keys).")]
ModelOption = Annotated[str, typer.Option("--model", help="Model to start from: bundled alias, folder or hub id.")]
OutputOption = Annotated[Path, typer.Option("--output", help="Folder for the trained model, training_config.json and loss_curve.png.")]
EpochsOption = Annotated[float | None, typer.Option("--epochs", help="Passes over the data.")]
BatchOption = Annotated[int | None, typer.Option("--batch-size", help="Examples per step (in-batch negatives come from the same batch).")]
LrOption = Annotated[float | None, typer.Option("--lr", help="Peak learning rate \\[default: the kind's].")]
TemperatureOption = Annotated[float | None, typer.Option("--temperature", help="Softmax temperature of the contrastive loss.")]
MaxLengthOption = Annotated[int | None, typer.Option("--max-length", help="Tokens per text \\[default: the model's].")]
GroupOption = Annotated[int | None, typer.Option("--group-size", help="Positive plus hard negatives per query.")]
LoraOption = Annotated[bool | None, typer.Option("--lora/--no-lora", help="Train LoRA adapters instead of all weights \\[default: LoRA for LLMs only].")]
Bf16Option = Annotated[bool, typer.Option("--bf16", help="bfloat16 mixed precision (weights stay float32).")]
Fp16Option = Annotated[bool, typer.Option("--fp16", help="float16 mixed precision, CUDA only.")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Seed of shuffling, sampling and initialisation.")]
MaxStepsOption = Annotated[int | None, typer.Option("--max-steps", help="Stop after this many steps (overrides --epochs).")]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Resume from the last checkpoint in OUTPUT/checkpoints.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]


def _training_options(
    data: DataOption, model: ModelOption, output: OutputOption, epochs: EpochsOption = None,
    batch_size: BatchOption = None, lr: LrOption = None, temperature: TemperatureOption = None,
    max_length: MaxLengthOption = None, group_size: GroupOption = None, lora: LoraOption = None,
    bf16: Bf16Option = False, fp16: Fp16Option = False, seed: SeedOption = None, max_steps: MaxStepsOption = None,
    resume: ResumeOption = False, as_json: JsonOption = False,
) -> None:
    """The options every training command takes (this function only carries their declarations)."""


@dataclass
class _Training:
    """What a training command runs: ``train(model, data, output, **settings)``, reported as ``task``."""

    task: str
    train: Callable[..., Any]
    settings: dict[str, Any] = field(default_factory=dict)


def _overrides(**options: Any) -> dict[str, Any]:
    """Only the options given on the command line: the rest keep the training config's defaults."""
    out = {k: v for k, v in options.items() if v is not None}
    for flag in ("bf16", "fp16"):  # on/off flags: only "on" is an override
        if out.get(flag) is False:
            del out[flag]
    if out.pop("resume", False):
        out["resume_from_checkpoint"] = True
    if out.pop("quiet", False):
        out["show_progress"] = False
    return out


@contextmanager
def _stdout_for_json(as_json: bool) -> Iterator[None]:
    """With ``--json``, stdout carries only the result: the Trainer's printed logs go to stderr."""
    if not as_json:
        yield
        return
    with redirect_stdout(sys.stderr):
        yield


def _report(task: str, result: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"task": task, "output_dir": str(result.output_dir), "train_loss": result.train_loss,
                               "global_step": result.global_step,
                               "loss_plot": str(result.loss_plot) if result.loss_plot else None}))
        return
    table = Table(title=f"Trained {task}")
    for col in ("model folder", "steps", "final loss", "loss curve"):
        table.add_column(col)
    table.add_row(str(result.output_dir), str(result.global_step), f"{result.train_loss:.4f}",
                  str(result.loss_plot or "-"))
    console.print(table)
    console.print(f"Evaluate it: rag-app eval --compare BASE {result.output_dir} --data TEST.jsonl --corpus CORPUS.jsonl",
                  markup=False, highlight=False)


def _training_command(plan: Callable[..., _Training]) -> Callable[..., None]:
    """A training command: the options of :func:`_training_options` plus ``plan``'s own, then one run.

    ``plan`` takes its own options and says which trainer to call with which settings; the command sets up
    output, collects the options given on the command line, trains (bad input: a message and exit code 2)
    and reports the result. Its help is ``plan``'s docstring.
    """
    shared = inspect.signature(_training_options, eval_str=True).parameters
    own = inspect.signature(plan, eval_str=True).parameters

    @functools.wraps(plan)
    def command(**options: Any) -> None:
        common = {name: options.pop(name) for name in shared}
        as_json = common.pop("as_json")
        _setup(as_json)
        training = plan(**options)
        paths = {name: common.pop(name) for name in ("model", "data", "output")}
        overrides = _overrides(**common, **training.settings, quiet=as_json)
        with _user_errors(), _stdout_for_json(as_json):
            result = training.train(paths["model"], paths["data"], paths["output"], **overrides)
        _report(training.task, result, as_json)

    # Typer reads the options from the signature: the shared ones, with the command's own after the first three.
    first, rest = list(shared.values())[:3], list(shared.values())[3:]
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in (*first, *own.values(), *rest)], return_annotation=None,
    )
    return command


@finetune_app.command()
@_training_command
def embedder(
    pooling: Annotated[str | None, typer.Option("--pooling", help="cls, mean or last \\[default: the model's].")] = None,
    query_instruction: Annotated[str | None, typer.Option("--query-instruction", help="Prefix (or {} template) for queries, saved with the model.")] = None,
    document_instruction: Annotated[str | None, typer.Option("--document-instruction", help="Prefix (or {} template) for documents, saved with the model.")] = None,
) -> _Training:
    """Fine-tune an embedder: InfoNCE with in-batch (and hard) negatives, or CoSENT on scored pairs."""
    from finetune.training import train_embedder

    return _Training("embedder", train_embedder, {"pooling_method": pooling, "query_instruction": query_instruction,
                                                  "document_instruction": document_instruction})


@finetune_app.command()
@_training_command
def reranker(
    kind: Annotated[str, typer.Option("--kind", help="cross-encoder, colbert or llm (yes/no logit of a causal LM).")] = "cross-encoder",
    colbert_dim: Annotated[int | None, typer.Option("--colbert-dim", help="Size of a new ColBERT projection \\[default: keep the checkpoint's, or the identity].")] = None,
    instruction: Annotated[str | None, typer.Option("--instruction", help="The LLM ranker's instruction, saved with the model.")] = None,
) -> _Training:
    """Fine-tune a reranker: BCE on scored pairs, listwise cross-entropy over groups, MaxSim for ColBERT."""
    _choice(kind, RERANKER_KINDS, "--kind")
    from finetune.training import train_reranker

    return _Training(f"{kind} reranker", functools.partial(train_reranker, kind=kind),
                     {"colbert_dim": colbert_dim, "instruction": instruction})


# ---------------------------------------------------------------------------------------------- eval
def eval_command(
    model: Annotated[str | None, typer.Option("--model", help="Embedder to evaluate (the first stage when comparing rerankers).")] = None,
    reranker: Annotated[str | None, typer.Option("--reranker", help="Reranker applied to the embedder's top --candidates.")] = None,
    reranker_kind: Annotated[str, typer.Option("--reranker-kind", help="cross-encoder, colbert or llm.")] = "cross-encoder",
    data: Annotated[Path | None, typer.Option("--data", help='Test questions, python-faq format: {"id", "question", ...} lines.')] = None,
    corpus: Annotated[Path | None, typer.Option("--corpus", help='QA file whose answers are the corpus ({"id", "answer"}); relevant = same id.')] = None,
    beir: Annotated[Path | None, typer.Option("--beir", help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) instead of --data/--corpus.")] = None,
    split: Annotated[str, typer.Option("--split", help="BEIR qrels split.")] = "test",
    k: Annotated[int, typer.Option("--k", min=1, help="Cutoff of the metrics.")] = 10,
    candidates: Annotated[int | None, typer.Option("--candidates", min=1, help="Documents per query the reranker rescores \\[default: k, so it reorders the top k].")] = None,
    metrics: Annotated[list[str] | None, typer.Option("--metric", help="Metric (repeatable): ndcg, mrr, recall, map, precision, hit, optionally @k \\[default: ndcg, mrr, recall, map].")] = None,
    compare: Annotated[tuple[str, str] | None, typer.Option("--compare", help="Two embedders, BASE FINETUNED: evaluate both and write a table and a bar chart.")] = None,
    compare_rerankers: Annotated[tuple[str, str] | None, typer.Option("--compare-rerankers", help="Two rerankers (of --reranker-kind) after --model, BASE FINETUNED.")] = None,
    output_dir: Annotated[Path, typer.Option("--output-dir", help="Where --compare writes comparison.md, .png and .json.")] = Path("eval-results"),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Texts per batch.")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Retrieval quality of an embedder (and reranker): nDCG, MRR, Recall, MAP at k, or a before/after comparison.

    Retrieval is exact cosine search over the whole corpus (no vector database), then optional reranking.
    """
    _setup(as_json)
    _choice(reranker_kind, RERANKER_KINDS, "--reranker-kind")
    if beir is not None and (data is not None or corpus is not None):
        raise typer.BadParameter("give either --beir FOLDER or --data with --corpus, not both", param_hint="--beir")
    if beir is None and (data is None or corpus is None):
        raise typer.BadParameter("give --data TEST.jsonl and --corpus QA.jsonl, or --beir FOLDER", param_hint="--data")
    if compare and compare_rerankers:
        raise typer.BadParameter("compare embedders or rerankers, not both at once", param_hint="--compare")
    if compare is None and model is None:
        raise typer.BadParameter("give --model NAME (or --compare BASE FINETUNED)", param_hint="--model")
    if compare_rerankers and reranker:
        raise typer.BadParameter("--compare-rerankers names the rerankers; leave --reranker out", param_hint="--reranker")
    from finetune.evaluation import System, evaluate, load_beir, load_qa, write_comparison
    from finetune.evaluation import compare as compare_systems

    options = {"k": k, "candidates": candidates, "metrics": metrics or None, "batch_size": batch_size,
               "show_progress": not as_json}
    with _user_errors():
        test = load_beir(beir, split) if beir is not None else load_qa(data, corpus)  # type: ignore[arg-type]
        if compare:
            systems = [System(name, reranker, reranker_kind) for name in compare]  # type: ignore[arg-type]
        elif compare_rerankers:
            systems = [System(model, name, reranker_kind) for name in compare_rerankers]  # type: ignore[arg-type]
        else:
            reports = [evaluate(test, model, reranker, reranker_kind, **options)]  # type: ignore[arg-type]
            systems = []
        if systems:
            reports = compare_systems(test, systems, **options)
    files = write_comparison(reports, output_dir) if systems else ()
    if as_json:
        payload: Any = [r.to_json() for r in reports] if systems else reports[0].to_json()
        if systems:
            payload = {"results": payload, "files": [str(f) for f in files]}
        typer.echo(json.dumps(payload))
        return
    first = reports[0]
    table = Table(title=f"{first.data}: {first.num_queries} queries, {first.num_documents} documents")
    table.add_column("system")
    for metric in first.metrics:
        table.add_column(metric, justify="right")
    table.add_column("seconds", justify="right")
    for report in reports:
        table.add_row(report.system, *(f"{v:.4f}" for v in report.metrics.values()), f"{report.seconds:.1f}")
    console.print(table)
    for path in files:
        console.print(f"wrote {path}", markup=False, highlight=False)
