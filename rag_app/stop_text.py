"""Cutting generated text at stop strings, whole or streamed, so no part of a stop string is ever shown.

Small models run past their answer: they close the prompt's ``</passages>`` block, write ``Question: …`` and
answer a question nobody asked. Backends that take ``stop`` (llama.cpp, OpenAI endpoints, our transformers
backend) stop generating there; the chain cuts the text too, so a backend that ignores ``stop`` (or a stop
string split across two streamed pieces) cannot leak it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["StopText", "cut_at_stop", "first_stop"]


def first_stop(text: str, stops: Sequence[str]) -> int:
    """Where the earliest of ``stops`` starts in ``text``; -1 when none occurs (empty stops never match)."""
    return min((index for stop in stops if stop and (index := text.find(stop)) >= 0), default=-1)


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """``text`` up to the first stop string (all of it when none occurs)."""
    at = first_stop(text, stops)
    return text[:at] if at >= 0 else text


class StopText:
    """Cuts streamed text before the first stop string, holding back a tail that may start one; after a stop,
    everything else is dropped (``stopped`` tells the caller it may stop reading)."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The part of ``piece`` (with what was held back) that is safe to show now."""
        if self.stopped:
            return ""
        self.pending += piece
        if (at := first_stop(self.pending, self.stops)) >= 0:
            self.stopped = True
            out, self.pending = self.pending[:at], ""
            return out
        hold = max((n for stop in self.stops for n in range(1, len(stop)) if self.pending.endswith(stop[:n])),
                   default=0)
        cut = len(self.pending) - hold
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out

    def flush(self) -> str:
        """What is still held back, once the stream has ended without a stop."""
        out, self.pending = self.pending, ""
        return out
