"""Training throughput: ``finetune.train_embedder`` against sentence-transformers' trainer on the same pairs.

Both fine-tune the bundled MiniLM (``retrievers.resolve_model("minilm").path``) on the same pairs file (default
``../shared/data/python-faq/pairs.train.jsonl``) with in-batch negatives: ours with
:class:`~finetune.losses.InBatchNegativesLoss` (temperature 0.05), theirs with ``SentenceTransformerTrainer`` and
``MultipleNegativesRankingLoss`` (scale 20 = 1 / 0.05, so both losses are the same cross-entropy over the same
logits and the loss curves are on one scale). Same batch size, maximum sequence length, number of steps, learning
rate, warm-up, linear schedule, weight decay, gradient clipping and seed; the script checks that the two sets of
``TrainingArguments`` agree on them before it times anything. No checkpoints, loss logged every step.

Each run is a child process (so each one's peak RSS is its own), started in interleaved rounds (ours, theirs,
ours, theirs...) from this one script, so machine load affects both alike. The time is the Trainer's own
``train_runtime`` (the training loop, the same clock for both); the end-to-end time (load, train, save) is shown
too. Samples/s counts the examples actually trained on (an epoch's last batch may be short; both see the same
batch sizes). Both samplers draw the same batches from the same seed, so the two loss curves should coincide
step for step (they do with transformers 5.24 and sentence-transformers 5.7): a gap would point at the loss or
the collation. The one known difference: ours masks a document whose text repeats a query's positive out of
that query's negatives, which MNRL does not (the python-faq pairs have no such repeats).

Run: ``python benchmarks/train_throughput.py [--data FILE] [--steps 6] [--rounds 2] [--batch-size 32]
[--max-length 128] [--png FILE] [--json FILE]``. Target: ratio ours / sentence-transformers >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "python-faq" / "pairs.train.jsonl"
DEFAULT_PNG = ROOT / "benchmarks" / "results" / "train_throughput_loss.png"
SYSTEMS = ("ours", "sentence-transformers")
TARGET = 0.9
# Settings both trainers get (ours' defaults, EmbedderTrainingConfig, except the step count and length).
SHARED_ARGS = ("max_steps", "per_device_train_batch_size", "learning_rate", "warmup_steps", "weight_decay",
               "max_grad_norm", "lr_scheduler_type", "seed", "data_seed", "optim", "adam_beta1", "adam_beta2",
               "adam_epsilon", "gradient_accumulation_steps", "bf16", "fp16", "logging_steps", "use_cpu")


# ---------------------------------------------------------------------------------------------- child side
def samples_trained(n_examples: int, batch_size: int, steps: int) -> int:
    """Examples seen in ``steps`` steps when each epoch's batches are full except the last (no drop_last).

    >>> samples_trained(140, 32, 6)  # 32, 32, 32, 32, 12, then a new epoch: 32
    172
    """
    sizes = [batch_size] * (n_examples // batch_size) + ([n_examples % batch_size] if n_examples % batch_size else [])
    return sum(sizes[step % len(sizes)] for step in range(steps))


def _losses(history: list[dict[str, Any]]) -> dict[int, float]:
    return {int(e["step"]): float(e["loss"]) for e in history if "loss" in e and "step" in e}


def _runtime(history: list[dict[str, Any]]) -> float:
    final = [e for e in history if "train_runtime" in e]
    if not final:
        raise RuntimeError("The Trainer logged no train_runtime: this transformers version is not supported here.")
    return float(final[-1]["train_runtime"])


def _ours_config(settings: dict[str, Any]) -> Any:
    from finetune.config import EmbedderTrainingConfig

    return EmbedderTrainingConfig(
        max_steps=settings["steps"], batch_size=settings["batch_size"], max_length=settings["max_length"],
        temperature=1.0 / settings["scale"], logging_steps=1, save_checkpoints=False, show_progress=False,
        device="cpu",
    )


def _ours_arguments(settings: dict[str, Any], output_dir: Path) -> Any:
    """The ``TrainingArguments`` that ``train_embedder`` builds for these settings (to copy and to check)."""
    from finetune.config import DEFAULT_EMBEDDER_LR
    from finetune.training import _training_arguments

    cfg = _ours_config(settings)
    return _training_arguments(cfg, output_dir, float(cfg.lr or DEFAULT_EMBEDDER_LR["full"]), on_cpu=True)


def run_ours(settings: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    from finetune.training import train_embedder

    result = train_embedder(settings["model"], settings["data"], output_dir, config=_ours_config(settings))
    return {"history": result.history}


def run_sentence_transformers(settings: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers, SentenceTransformerTrainingArguments

    from finetune.data import load_examples
    from retrievers import resolve_model

    examples = load_examples(settings["data"]).examples
    dataset = Dataset.from_dict({"anchor": [e.query for e in examples], "positive": [e.positives[0] for e in examples]})
    model = SentenceTransformer(str(resolve_model(settings["model"]).path), device="cpu")
    model.max_seq_length = settings["max_length"]
    ours = _ours_arguments(settings, output_dir)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir / "checkpoints"), **{name: getattr(ours, name) for name in SHARED_ARGS},
        save_strategy="no", report_to="none", disable_tqdm=True, dataloader_num_workers=0,
        dataloader_pin_memory=False, batch_sampler=BatchSamplers.BATCH_SAMPLER,
    )
    differ = [name for name in SHARED_ARGS if getattr(args, name) != getattr(ours, name)]
    differ += [name for name in ("lr_scheduler_type", "optim") if str(getattr(args, name)) != str(getattr(ours, name))]
    if differ:
        raise RuntimeError(f"The two trainers' settings differ in {sorted(set(differ))}: the comparison is unfair.")
    loss = MultipleNegativesRankingLoss(model, scale=settings["scale"])
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    trainer.train()
    model.save_pretrained(str(output_dir / "model"))  # ours saves its model too: same end-to-end work
    return {"history": list(trainer.state.log_history)}


def worker(system: str, settings: dict[str, Any], result_path: Path) -> None:
    """One training run in this (child) process; writes its timings, losses and peak RSS as JSON."""
    import torch

    if settings["threads"]:
        torch.set_num_threads(settings["threads"])
    run = run_ours if system == "ours" else run_sentence_transformers
    with tempfile.TemporaryDirectory(prefix="train-throughput-") as tmp:
        start = time.perf_counter()
        out = run(settings, Path(tmp) / "out")
        wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result = {
        "system": system, "train_runtime": _runtime(out["history"]), "wall": wall,
        "losses": _losses(out["history"]), "peak_rss_mib": peak_kib / 1024, "threads": torch.get_num_threads(),
    }
    result_path.write_text(json.dumps(result), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- parent side
def _check_data(path: Path) -> int:
    """Number of pair examples in ``path``; exits with what to pass when it is missing or not pairs."""
    if not path.is_file():
        hint = "" if path != DEFAULT_DATA else " (the default python-faq pairs are not there)"
        sys.exit(f"Training pairs not found at {path}{hint}: pass --data FILE, a JSONL of "
                 '{"query": "...", "positive": ["..."]} lines (README "Data for examples and benchmarks").')
    from finetune.data import DataError, load_examples

    try:
        data = load_examples(path)
    except DataError as exc:
        sys.exit(str(exc))
    if data.kind != "pairs":
        sys.exit(f"{path} holds {data.kind}; this benchmark trains on pairs ({{\"query\", \"positive\"}} lines).")
    return len(data)


def _run_child(system: str, settings: dict[str, Any], result_path: Path) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", system, "--settings", json.dumps(settings),
               "--result", str(result_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"The {system} run failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(result_path.read_text(encoding="utf-8"))


def _plot(path: Path, curves: dict[str, dict[int, float]], title: str, scale: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (name, curve), style in zip(curves.items(), ("o-", "s--"), strict=True):
        steps = sorted(curve)
        ax.plot(steps, [curve[s] for s in steps], style, label=name, markersize=4)
    ax.set_xlabel("step")
    ax.set_ylabel(f"training loss (InfoNCE, scale {scale:g} = temperature {1 / scale:g})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="pairs JSONL (default: %(default)s)")
    parser.add_argument("--model", default="minilm", help="embedder name (default: minilm, the bundled MiniLM)")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per run (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each trainer, interleaved (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="default: %(default)s (ours' default)")
    parser.add_argument("--max-length", type=int, default=128, help="maximum tokens per text (default: %(default)s)")
    parser.add_argument("--scale", type=float, default=20.0, help="MNRL scale; ours gets temperature 1/scale")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (default: torch's choice)")
    parser.add_argument("--png", type=Path, default=DEFAULT_PNG, help="loss-curve plot (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, json.loads(args.settings), args.result)
        return
    for name in ("steps", "rounds", "batch_size", "max_length"):
        if getattr(args, name) < 1:
            sys.exit(f"--{name.replace('_', '-')} must be a positive integer; got {getattr(args, name)}.")

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from finetune.config import EmbedderTrainingConfig

    console = Console(width=None if sys.stdout.isatty() else 120)
    n_examples = _check_data(args.data)
    default_temperature = EmbedderTrainingConfig().temperature
    settings = {"model": args.model, "data": str(args.data.resolve()), "steps": args.steps,
                "batch_size": args.batch_size, "max_length": args.max_length, "scale": args.scale,
                "threads": args.threads}
    samples = samples_trained(n_examples, args.batch_size, args.steps)
    console.print(f"{n_examples} pairs from {args.data}; {args.steps} steps of batch {args.batch_size} "
                  f"({samples} samples), max length {args.max_length}, {args.rounds} interleaved rounds; "
                  f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    console.print(f"scale: MNRL {args.scale:g}, ours temperature {1 / args.scale:g} "
                  f"(our default temperature {default_temperature:g} = scale {1 / default_temperature:g})")

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SYSTEMS}
    with tempfile.TemporaryDirectory(prefix="train-throughput-") as tmp, Progress(console=console, transient=True) as bar:
        task = bar.add_task("training runs", total=args.rounds * len(SYSTEMS))
        for r in range(args.rounds):
            for name in SYSTEMS:
                bar.update(task, description=f"round {r + 1}/{args.rounds}: {name}")
                runs[name].append(_run_child(name, settings, Path(tmp) / f"{name}-{r}.json"))
                bar.advance(task)

    rate = {name: samples / statistics.median(run["train_runtime"] for run in rs) for name, rs in runs.items()}
    end_to_end = {name: samples / statistics.median(run["wall"] for run in rs) for name, rs in runs.items()}
    ratio = rate["ours"] / rate["sentence-transformers"]
    table = Table(title="Training throughput (median over rounds)")
    for column in ("trainer", "samples/s (train loop)", "per round", "samples/s (load+train+save)", "peak RSS MiB",
                   "final loss"):
        table.add_column(column, justify="left" if column == "trainer" else "right")
    for name, rs in runs.items():
        last = rs[-1]["losses"]
        table.add_row(name, f"{rate[name]:.2f}", ", ".join(f"{samples / run['train_runtime']:.2f}" for run in rs),
                      f"{end_to_end[name]:.2f}", f"{max(run['peak_rss_mib'] for run in rs):.0f}",
                      f"{last[max(last, key=int)]:.4f}")
    console.print(table)
    verdict = "met" if ratio >= TARGET else "NOT met"
    console.print(f"ratio ours / sentence-transformers: {ratio:.3f} (target >= {TARGET}: {verdict}); "
                  f"end to end: {end_to_end['ours'] / end_to_end['sentence-transformers']:.3f}")

    curves = {name: {int(step): loss for step, loss in rs[-1]["losses"].items()} for name, rs in runs.items()}
    loss_table = Table(title="Loss per step (last round)")
    for column in ("step", *SYSTEMS):
        loss_table.add_column(column, justify="right")
    for step in sorted(set().union(*curves.values())):
        loss_table.add_row(str(step), *(f"{curves[n][step]:.4f}" if step in curves[n] else "-" for n in SYSTEMS))
    console.print(loss_table)
    common = sorted(set(curves["ours"]) & set(curves["sentence-transformers"]))
    gap = max((abs(curves["ours"][s] - curves["sentence-transformers"][s]) for s in common), default=float("nan"))
    console.print(f"largest loss difference at the same step: {gap:.2e} over {len(common)} steps")
    title = f"{args.model}, batch {args.batch_size}, max length {args.max_length}: training loss"
    _plot(args.png, curves, title, args.scale)
    console.print(f"loss curves: {args.png}")
    if args.json is not None:
        payload = {"settings": settings, "samples": samples, "samples_per_s": rate, "end_to_end_samples_per_s": end_to_end,
                   "ratio": ratio, "runs": runs}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if not math.isfinite(ratio):
        sys.exit("A run reported no training time.")


if __name__ == "__main__":
    main()
