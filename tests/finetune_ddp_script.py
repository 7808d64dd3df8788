"""Run by ``tests/test_finetune_distributed.py`` under ``torchrun --nproc_per_node 2``: one epoch of
``train_embedder`` on CPU (gloo), then the main process writes the Trainer's log history next to the model.

Usage: python -m torch.distributed.run --nproc_per_node 2 tests/finetune_ddp_script.py MODEL DATA OUT
"""

from __future__ import annotations

import json
import sys

import torch

from finetune.training import train_embedder


def main(model: str, data: str, out: str) -> None:
    torch.set_num_threads(1)
    result = train_embedder(model, data, out, epochs=1, batch_size=2, lr=1e-3, logging_steps=1, show_progress=False,
                            device="cpu")
    if torch.distributed.get_rank() == 0:
        (result.output_dir / "history.json").write_text(json.dumps(result.history), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:4])
