"""In-batch negatives across processes: two gloo processes on half-batches must give the loss and the
gradients of one process on the whole batch (InfoNCE on pairs and triplets, ColBERT MaxSim, CoSENT), and
a ``torchrun --nproc_per_node 2`` run of ``train_embedder`` must train and save a loadable model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from finetune.collators import ColbertCollator, EmbedderCollator
from finetune.data import load_examples
from finetune.distributed import gather_with_grad
from finetune.objectives import ColbertObjective, EmbedderObjective
from retrievers import AutoModelForEmbedding, ColBERT

WORDS = ["cat", "dog", "python", "pooling", "mat", "garden", "reranker", "pip"]
PAIRS = [{"query": f"what about the {w}?", "positive": f"the {w} is described here"} for w in WORDS]
TRIPLETS = [{**p, "negative": [f"the {v} is elsewhere" for v in WORDS if v != w][:3]} for p, w in zip(PAIRS, WORDS, strict=True)]
LABELS = [1.0, 0.0, 0.7, 0.2, 0.9, 0.0, 0.4, 1.0]
SCORED = [{"query": f"what about the {w}?", "document": f"the {WORDS[(i * 3) % 8]} is described here", "label": label}
          for i, (w, label) in enumerate(zip(WORDS, LABELS, strict=True))]
CASES = {"pairs": PAIRS, "triplets": TRIPLETS, "scored": SCORED}


def _objective(kind: str, folder: str, data: str) -> tuple[torch.nn.Module, object]:
    examples = load_examples(CASES[data])
    if kind == "colbert":
        model = ColBERT.from_pretrained(folder, device="cpu")
        return ColbertObjective(model, examples.kind, temperature=0.1), ColbertCollator(model, examples.kind, group_size=2, seed=0)
    model = AutoModelForEmbedding.from_pretrained(folder, device="cpu")
    return EmbedderObjective(model, examples.kind, temperature=0.1), EmbedderCollator(model, examples.kind, group_size=2, seed=0)


def _loss_and_grads(objective: torch.nn.Module, batch: dict) -> tuple[float, dict[str, torch.Tensor]]:
    objective.eval()  # no dropout: the runs must be comparable
    objective.zero_grad()
    loss = objective(**batch)["loss"]
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in objective.named_parameters() if p.grad is not None}
    return float(loss.detach()), grads


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASE_IDS = [("embedder", "pairs"), ("embedder", "triplets"), ("embedder", "scored"), ("colbert", "pairs")]


def _worker(rank: int, world: int, port: int, folder: str, out: str) -> None:
    """Every case in one pair of processes (starting processes is the slow part)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        results = {}
        for kind, data in CASE_IDS:
            objective, collator = _objective(kind, folder, data)
            examples = load_examples(CASES[data]).examples
            half = len(examples) // world
            batch = collator(examples[rank * half : (rank + 1) * half])  # this process's half of the batch
            ddp = DistributedDataParallel(objective, find_unused_parameters=True)  # averages gradients, as the Trainer's DDP
            ddp.eval()  # no dropout: the runs must be comparable
            loss = ddp(**batch)["loss"]
            loss.backward()
            total = loss.detach().clone()
            dist.all_reduce(total)  # the logged loss is the mean over processes
            grads = {n: p.grad.detach().clone() for n, p in objective.named_parameters() if p.grad is not None}
            results[f"{kind}-{data}"] = {"loss": float(total) / world, "grads": grads}
        results["uneven"] = _gather_uneven(rank)
        torch.save(results, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def _gather_uneven(rank: int) -> dict:
    x = torch.full((rank + 1, 2 + rank), float(rank + 1), requires_grad=True)  # rank 0: (1, 2); rank 1: (2, 3)
    gathered, offset = gather_with_grad(x, pad_value=-1.0)
    weights = torch.arange(gathered.numel(), dtype=torch.float32).view_as(gathered)
    (gathered * weights).sum().backward()
    return {"gathered": gathered.detach(), "offset": offset, "grad": x.grad}


@pytest.fixture(scope="module")
def two_process_results(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Each process's results: [rank 0, rank 1]."""
    out = tmp_path_factory.mktemp("ddp") / "results.pt"
    mp.spawn(_worker, args=(2, _free_port(), str(tiny_encoder_dir), str(out)), nprocs=2, join=True)
    return [torch.load(f"{out}.{rank}", weights_only=True) for rank in (0, 1)]


@pytest.mark.parametrize(("kind", "data"), CASE_IDS)
def test_two_processes_match_one_process_on_the_full_batch(
    kind: str, data: str, tiny_encoder_dir: Path, two_process_results: list[dict]
) -> None:
    objective, collator = _objective(kind, str(tiny_encoder_dir), data)
    # The collator draws positives/negatives at random: each half is collated as in its worker (seed 0).
    examples = load_examples(CASES[data]).examples
    _, fresh = _objective(kind, str(tiny_encoder_dir), data)
    full = _concat(collator(examples[:4]), fresh(examples[4:]))
    loss, grads = _loss_and_grads(objective, full)
    result = two_process_results[0][f"{kind}-{data}"]
    assert two_process_results[1][f"{kind}-{data}"]["loss"] == result["loss"]

    assert result["loss"] == pytest.approx(loss, rel=1e-5, abs=1e-6)
    assert set(result["grads"]) == set(grads)
    assert sum(float(g.norm()) for g in grads.values()) > 0
    for name, grad in grads.items():
        torch.testing.assert_close(result["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=f"gradient of {name}")


def _concat(a: dict, b: dict) -> dict:
    """One batch from two collated halves: pad the token tensors to the same length and stack them."""
    out = {}
    for key in a:
        x, y = a[key], b[key]
        if x.ndim == 2 and x.shape[1] != y.shape[1]:
            width = max(x.shape[1], y.shape[1])
            x = torch.nn.functional.pad(x, (0, width - x.shape[1]))
            y = torch.nn.functional.pad(y, (0, width - y.shape[1]))
        out[key] = torch.cat([x, y])
    return out


def test_gather_with_grad_handles_uneven_slices_and_sums_gradients(two_process_results: list[dict]) -> None:
    r0, r1 = (r["uneven"] for r in two_process_results)
    expected = torch.tensor([[1.0, 1.0, -1.0], [2.0, 2.0, 2.0], [2.0, 2.0, 2.0]])
    torch.testing.assert_close(r0["gathered"], expected)
    torch.testing.assert_close(r1["gathered"], expected)
    assert (r0["offset"], r1["offset"]) == (0, 1)
    # Each process's loss is sum(gathered * weights); both processes' losses depend on every row, so a row's
    # gradient is twice its weights (summed over the two processes), trimmed to the row's own shape.
    weights = torch.arange(9, dtype=torch.float32).view(3, 3)
    torch.testing.assert_close(r0["grad"], 2 * weights[:1, :2])
    torch.testing.assert_close(r1["grad"], 2 * weights[1:, :3])


def test_gather_is_the_identity_in_one_process() -> None:
    x = torch.randn(3, 2, requires_grad=True)
    gathered, offset = gather_with_grad(x)
    assert gathered is x and offset == 0


def test_torchrun_two_processes_trains_and_saves_a_loadable_embedder(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PAIRS), encoding="utf-8")
    out = tmp_path / "ddp-model"
    script = Path(__file__).with_name("finetune_ddp_script.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           str(script), str(tiny_encoder_dir), str(data), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads((out / "training_config.json").read_text())
    assert record["world_size"] == 2
    assert record["global_step"] == 2  # 8 pairs, 2 processes x 2 per device = 4 per step, 1 epoch
    norms = [e["grad_norm"] for e in record_history(out)]
    assert norms and all(0 < n < float("inf") for n in norms)
    reloaded = AutoModelForEmbedding.from_pretrained(out)
    assert reloaded.encode_queries(["what about the cat?"]).shape == (1, 32)


def record_history(out: Path) -> list[dict]:
    return [e for e in json.loads((out / "history.json").read_text()) if "grad_norm" in e]
