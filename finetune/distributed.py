"""Gather tensors from every training process, keeping gradients, so in-batch negatives span all devices.

Under ``torchrun --nproc_per_node N`` each process embeds its own slice of the batch. Contrastive losses
compare each local query against the documents of *every* process; :func:`gather_with_grad` concatenates
them and routes the gradient of each gathered row back to the process that produced it (the backward pass
sums the incoming gradients over processes with one all-reduce and keeps this process's rows). With DDP's
gradient averaging on top, N processes on N slices then compute the same gradients as one process on the
whole batch (``tests/test_finetune_distributed.py`` checks it on two CPU processes with gloo).

Outside ``torch.distributed`` (one process) every function is the identity. Slices may differ in size
(dim 0) and, for token vectors, in length (other dims): they are padded for the collective and trimmed
again on dim 0; padding of other dims stays, filled with ``pad_value`` (give masks 0).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["gather_no_grad", "gather_with_grad", "is_distributed", "rank_and_world"]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> tuple[int, int]:
    """(this process's rank, number of processes); (0, 1) outside torch.distributed."""
    if not is_distributed():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


class _AllGather(torch.autograd.Function):
    """All-gather of equal-shape tensors along dim 0; backward sums gradients over processes."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        rank, world = rank_and_world()
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rank, ctx.rows = rank, tensor.shape[0]
        return torch.cat(parts, dim=0)  # (world * rows, ...)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        # Every process's loss may depend on our rows: the full gradient of our rows is the sum over processes.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = ctx.rank * ctx.rows
        return grad[start : start + ctx.rows]


def _shapes(tensor: torch.Tensor) -> list[list[int]]:
    _, world = rank_and_world()
    mine = torch.tensor(tensor.shape, dtype=torch.long, device=tensor.device)
    shapes = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(shapes, mine)
    return [s.tolist() for s in shapes]


def _pad_to(tensor: torch.Tensor, shape: list[int], value: float) -> torch.Tensor:
    if list(tensor.shape) == shape:
        return tensor
    out = tensor.new_full(shape, value)
    out[tuple(slice(0, n) for n in tensor.shape)] = tensor
    return out


def _gather(tensor: torch.Tensor, pad_value: float, with_grad: bool) -> tuple[torch.Tensor, int]:
    rank, world = rank_and_world()
    if world == 1:
        return tensor, 0
    shapes = _shapes(tensor)
    if any(len(s) != tensor.ndim for s in shapes):
        raise ValueError(f"Processes gather tensors of different ranks: {shapes}.")
    biggest = [max(s[d] for s in shapes) for d in range(tensor.ndim)]
    padded = _pad_to(tensor, biggest, pad_value)
    if with_grad:
        gathered = _AllGather.apply(padded)
    else:
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous())
        gathered = torch.cat(parts, dim=0)
    rows = [s[0] for s in shapes]
    if all(r == biggest[0] for r in rows):
        return gathered, rank * biggest[0]
    keep = torch.cat([torch.arange(r, device=tensor.device) + i * biggest[0] for i, r in enumerate(rows)])
    return gathered[keep], sum(rows[:rank])


def gather_with_grad(tensor: torch.Tensor, pad_value: float = 0.0) -> tuple[torch.Tensor, int]:
    """Concatenate ``tensor`` (n_r, ...) from all processes along dim 0, differentiably.

    Returns the gathered tensor (sum n_r, ...) and the row where this process's rows start. Other dims are
    padded to the largest with ``pad_value``. One process: ``(tensor, 0)``.
    """
    return _gather(tensor, pad_value, with_grad=True)


def gather_no_grad(tensor: torch.Tensor, pad_value: float = 0.0) -> tuple[torch.Tensor, int]:
    """:func:`gather_with_grad` for tensors that need no gradient (labels, masks, ids)."""
    return _gather(tensor.detach(), pad_value, with_grad=False)
