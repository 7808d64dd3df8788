"""Split a :class:`~ingest.types.LoadedFile` into LangChain ``Document`` chunks measured in the embedder's tokens.

What it handles
---------------
- **Sizes in the model's own tokens.** Each run of blocks that share a page and a heading path (a
  *section*) is tokenized once, with character offsets (``return_offsets_mapping`` on fast tokenizers), and
  every size decision is a binary search over those offsets: no candidate piece is re-tokenized, and a
  multi-megabyte paragraph is cut in ``O(n log n)`` time.
- **Boundaries, best first.** A chunk never crosses a change of page or heading, so its ``page`` and
  ``heading`` metadata are true of all its text. Inside a section, small blocks are merged up to
  ``chunk_size``; a longer run is cut at the best boundary among the second half of the window's new
  tokens (those after the overlap), in this order: paragraph (blank line), sentence end, line break,
  space, and only as a last resort a raw token boundary (a long line of code or a URL with no space).
  Sentence ends include the CJK ones (``。！？；``), which need no space after them.
- **Records whole.** A table row or a list item (a line of a block the loader marked ``"table"`` or
  ``"list"``) and a definition-list entry (an ``"entry"`` block) is never cut when it fits in a chunk: a cut
  that would fall inside one moves back to its start, so it opens the next chunk whole. Only a record
  longer than ``chunk_size`` is cut, by the rules above; table rows cut so are counted, and
  :meth:`Chunker.iter_chunks` says so in its ``warnings``.
- **Overlap.** Consecutive chunks of one section share about ``chunk_overlap`` tokens (between half and one
  and a half times as many), starting at the sentence or line start nearest to ``chunk_overlap`` tokens
  back, else at a word start.
- **A hard bound.** With ``max_tokens`` (the embedder's maximum sequence length), every chunk is
  re-tokenized once, special tokens included, and any chunk over the bound is cut again (this only
  happens when a tokenizer counts a piece of text differently on its own than inside its section, e.g. a
  byte-level BPE word that loses its leading space). BERT WordPiece tokenizers (MiniLM, BGE, E5...) skip
  that second pass for chunks with white space on both sides, whose count is known exactly. So ``len(tokenizer(chunk)["input_ids"]) <=
  max_tokens`` for every chunk, and the model never truncates one silently.
- **Exact offsets.** A chunk's text is a slice of ``loaded.text`` (blocks joined by ``"\\n\\n"``) with
  surrounding whitespace left out: ``loaded.text[m["start_index"]:m["end_index"]] == doc.page_content``.

Metadata (only ``str``/``int`` values, as Chroma requires): ``source``, ``file_type``, ``chunk_index``
(0-based in the file), ``start_index``, ``end_index``, ``content_hash`` (SHA-256 of the chunk text), and
where known ``title``, ``page`` (1-based) and ``heading`` (the path joined with ``" > "``). Keys whose value
is unknown are left out rather than set to ``None`` or ``""``.

What it doesn't do: it does not load files, nor resolve model names (``rag_app`` passes the tokenizer in,
or a local model folder to :meth:`Chunker.from_model_dir`), nor embed anything; it does not rewrite
text (no heading is prepended: see :mod:`ingest.contextual` for the text that is embedded).

>>> from transformers import AutoTokenizer                                   # doctest: +SKIP
>>> tokenizer = AutoTokenizer.from_pretrained(model_dir)                     # doctest: +SKIP
>>> docs = chunk_file(loaded, tokenizer, chunk_size=200, chunk_overlap=40, max_tokens=256)  # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import math
import os
import re
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document

from ingest.types import LoadedFile, TextBlock

__all__ = ["HEADING_SEPARATOR", "Chunker", "chunk_file", "count_tokens", "load_tokenizer", "read_max_seq_length"]

HEADING_SEPARATOR = " > "

# A cut is looked for among the last (1 - MIN_FILL) of a window's new tokens (those after the overlap): a
# paragraph break just past the middle of the window beats a sentence end near its end, and no chunk is
# left tiny when a boundary is that far along.
_MIN_FILL = 0.5
# Sections are tokenized in batches of about this many characters, so memory stays bounded on huge files.
_BATCH_CHARS = 1 << 20

# A sentence ends with terminal punctuation (and closing quotes or brackets) before white space; CJK
# sentence ends (full stop, exclamation and question marks, and the full-width semicolon that separates
# clauses as a sentence end does) need no space after them. The cut goes right after the match.
_CJK_END = "。！？；．"
_SENTENCE_END = re.compile(rf"[.!?…]+[\"'”’)\]]*(?=\s)|[{_CJK_END}]+[\"'”’）」』]*")
# Where an overlap may start: after a sentence end, or after a line break.
_OVERLAP_BREAK = re.compile(rf"[.!?…]+[\"'”’)\]]*\s|[{_CJK_END}]+[\"'”’）」』]*|\n")
_SPACE = re.compile(r"\s")
_NON_SPACE = re.compile(r"\S")
# Pieces weighed one by one when only a length function is given: words (long ones cut every 32
# characters) with the white space after them.
_PIECE = re.compile(r"\S{1,32}\s*")
_SPACES = (" ", "\t", "\r", "\f", "\v", "\xa0", "\u2009", "\u3000")

LengthFunction = Callable[[str], int]


# --------------------------------------------------------------------------------------------- tokens


@dataclass
class _Tokens:
    """The tokens of one section: absolute character offsets into ``loaded.text``, in order.

    ``cum[k]`` is the total weight of the first ``k`` tokens; ``None`` means every token weighs 1 (real
    tokenizers). Weights other than 1 come from a length function applied to word pieces.
    """

    starts: np.ndarray  # (n,) int64, non-decreasing
    ends: np.ndarray  # (n,) int64, non-decreasing
    cum: np.ndarray | None = None  # (n + 1,) int64

    @property
    def n(self) -> int:
        return len(self.starts)

    def before(self, pos: int) -> int:
        """Number of tokens that start before ``pos`` (those a chunk ending at ``pos`` contains)."""
        return int(np.searchsorted(self.starts, pos, "left"))

    def ended(self, pos: int) -> int:
        """Number of tokens that end at or before ``pos`` (those a chunk starting at ``pos`` leaves out)."""
        return int(np.searchsorted(self.ends, pos, "right"))

    def weight(self, i: int, j: int) -> int:
        return j - i if self.cum is None else int(self.cum[j] - self.cum[i])

    def advance(self, i: int, budget: float, *, at_least: bool) -> int:
        """From token ``i``, the largest ``k`` with ``weight(i, k) <= budget`` or, with ``at_least``, the
        smallest ``k`` with ``weight(i, k) >= budget``; clipped to ``[i, n]``."""
        if self.cum is None:
            k = i + (math.ceil(budget) if at_least else math.floor(budget))
        else:
            target = self.cum[i] + budget
            k = int(np.searchsorted(self.cum, target, "left" if at_least else "right")) - (0 if at_least else 1)
        return max(i, min(k, self.n))

    def back(self, j: int, budget: int) -> int:
        """The smallest ``t <= j`` with ``weight(t, j) <= budget``."""
        if self.cum is None:
            return max(0, j - budget)
        return int(np.searchsorted(self.cum, self.cum[j] - budget, "left"))


def _arrays(offsets: Sequence[tuple[int, int]], shift: int) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    return np.ascontiguousarray(arr[:, 0] + shift), np.ascontiguousarray(arr[:, 1] + shift)


class _FastSource:
    """A ``tokenizers`` backend (from a transformers fast tokenizer), copied once without truncation or
    padding: ``tokenizer.json`` files often carry ``max_length=128`` truncation that would hide tokens."""

    def __init__(self, tokenizer: Any) -> None:
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        backend.no_truncation()
        backend.no_padding()
        backend.encode_special_tokens = bool(getattr(tokenizer, "split_special_tokens", False))
        self._backend = backend
        self.exact_at_spaces = _wordpiece_is_local(json.loads(backend.to_str()))

    def tokenize(self, texts: list[str], shifts: list[int]) -> list[_Tokens]:
        encodings = self._backend.encode_batch(texts, add_special_tokens=False)
        return [_Tokens(*_arrays(e.offsets, s)) for e, s in zip(encodings, shifts, strict=True)]

    def count(self, texts: list[str]) -> list[int]:
        return [len(e) for e in self._backend.encode_batch(texts, add_special_tokens=True)]


def _wordpiece_is_local(config: dict[str, Any]) -> bool:
    """Whether a tokenizer (its ``tokenizer.json``) is BERT's WordPiece pipeline, in which every step is
    local to a word: the BERT normalizer works per character (per combining sequence for accents), the
    BERT pre-tokenizer splits on white space and punctuation, WordPiece encodes each word on its own, and no
    added token holds white space or strips it. Then a slice of a text that begins and ends next to white
    space has exactly the tokens it had inside the text, and need not be tokenized again."""
    normalizer = config.get("normalizer")
    added_ok = all(
        not any(c.isspace() for c in t.get("content", "")) and not t.get("lstrip") and not t.get("rstrip")
        for t in config.get("added_tokens") or []
    )
    return (
        (config.get("model") or {}).get("type") == "WordPiece"
        and (config.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
        and (normalizer is None or normalizer.get("type") == "BertNormalizer")
        and added_ok
    )


def _bert_space(c: str) -> bool:
    """White space to BERT's normalizer (Python's ``isspace`` also has control characters it deletes)."""
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


class _CallSource:
    """Any tokenizer called like a transformers one that returns ``offset_mapping``."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def tokenize(self, texts: list[str], shifts: list[int]) -> list[_Tokens]:
        out = self._tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        return [_Tokens(*_arrays(o, s)) for o, s in zip(out["offset_mapping"], shifts, strict=True)]

    def count(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._tokenizer(texts, add_special_tokens=True)["input_ids"]]


class _LengthSource:
    """A length function: words (and pieces of long words) are weighed once each, memoised."""

    def __init__(self, length_function: LengthFunction) -> None:
        self._length = length_function
        self._empty = int(length_function(""))
        self._memo: dict[str, int] = {}

    def _weigh(self, piece: str) -> int:
        w = self._memo.get(piece)
        if w is None:
            w = max(0, int(self._length(piece)) - self._empty)
            if len(self._memo) < 1_000_000:
                self._memo[piece] = w
        return w

    def tokenize(self, texts: list[str], shifts: list[int]) -> list[_Tokens]:
        result = []
        for text, shift in zip(texts, shifts, strict=True):
            spans, weights = [], [0]
            for m in _PIECE.finditer(text):
                spans.append((m.start(), m.end()))
                weights.append(self._weigh(m.group()))
            starts, ends = _arrays(spans, shift)
            result.append(_Tokens(starts, ends, np.cumsum(np.asarray(weights, dtype=np.int64))))
        return result

    def count(self, texts: list[str]) -> list[int]:
        return [int(self._length(t)) for t in texts]


_Source = _FastSource | _CallSource | _LengthSource
_SOURCES: weakref.WeakKeyDictionary[Any, _Source] = weakref.WeakKeyDictionary()


def _source_for(tokenizer: Any) -> _Source:
    """The token source for a tokenizer, built once per tokenizer object (copying a backend costs ~10 ms)."""
    try:
        cached = _SOURCES.get(tokenizer)
    except TypeError:  # not weak-referenceable or not hashable
        cached = None
    if cached is not None:
        return cached
    if hasattr(tokenizer, "backend_tokenizer"):
        source: _Source = _FastSource(tokenizer)
    elif callable(tokenizer):
        try:
            tokenizer(["a b"], add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            source = _CallSource(tokenizer)
        except (NotImplementedError, TypeError, KeyError, ValueError):
            # A slow (Python) tokenizer has no offsets: weigh words with it instead.
            source = _LengthSource(lambda t: len(tokenizer(t, add_special_tokens=True)["input_ids"]))
    else:
        raise TypeError(
            f"tokenizer must be a transformers tokenizer (or be called like one); got {type(tokenizer).__name__}. "
            "Pass length_function= to measure text some other way."
        )
    with contextlib.suppress(TypeError):  # not weak-referenceable: no cache
        _SOURCES[tokenizer] = source
    return source


# --------------------------------------------------------------------------------------------- cutting


def _skip_space(text: str, pos: int, end: int) -> int:
    m = _NON_SPACE.search(text, pos, end)
    return m.start() if m else end


def _strip_end(text: str, start: int, end: int) -> int:
    return start + len(text[start:end].rstrip())


def _best_cut(text: str, lo: int, hi: int) -> int:
    """The best position ``p`` in ``[lo, hi]`` to end a chunk at: a paragraph break, else after the last
    sentence end, else a line break, else a space, else ``hi`` (a token boundary)."""
    p = text.rfind("\n\n", lo, hi + 2)
    if p >= 0:
        return p
    last = -1
    for m in _SENTENCE_END.finditer(text, max(lo - 8, 0), hi + 1):
        if m.end() >= lo:
            last = m.end()
    if last >= 0:
        return last
    p = text.rfind("\n", lo, hi + 1)
    if p >= 0:
        return p
    p = max(text.rfind(c, lo, hi + 1) for c in _SPACES)
    return p if p >= 0 else hi


def _overlap_start(text: str, toks: _Tokens, i: int, j: int, cut: int, overlap: int, budget: int) -> int:
    """Where the chunk after a cut at ``cut`` (``j`` tokens before it; this chunk starts in token ``i``)
    starts so that the two share about ``overlap`` tokens: at the sentence or line start nearest to
    ``overlap`` tokens back, among those between half and one and a half times as far back; else at the
    word start at or after ``overlap`` tokens back. Never so far back that the next chunk has no room for
    token ``j``, so the next chunk always gets past ``cut``."""
    # The next chunk must have room for token j: weight(start, j + 1) <= budget.
    first = max(i + 1, toks.back(min(j + 1, toks.n), budget))
    target = max(toks.back(j, overlap), first)
    if target >= j:
        return cut
    earliest = max(toks.back(j, overlap + overlap // 2), first)
    latest = min(max(toks.back(j, overlap // 2), target), j - 1)
    s = int(toks.starts[target])
    best = -1
    for m in _OVERLAP_BREAK.finditer(text, int(toks.starts[earliest]), int(toks.starts[latest]) + 1):
        if best < 0 or abs(m.end() - s) < abs(best - s):
            best = m.end()
    if best >= 0:
        return best
    if text[s].isspace() or (s > 0 and text[s - 1].isspace()):
        return s
    m = _SPACE.search(text, s, cut)
    return m.start() if m is not None else s


def _keep_record_whole(
    text: str, toks: _Tokens, records: Sequence[tuple[int, int]], pos: int, cut: int, floor: int, budget: int
) -> int:
    """``cut``, or the start of the record (table row, list item, definition entry) it would split, when that
    record starts after the chunk's start ``pos`` (and after ``floor``, the last chunk's end) and fits in
    ``budget`` tokens on its own: the record then opens the next chunk whole."""
    k = bisect.bisect_left(records, (cut, cut)) - 1  # the last record starting before the cut
    if k < 0:
        return cut
    start, end = records[k]
    if not start < cut < _strip_end(text, start, end):
        return cut
    if start <= pos or _strip_end(text, pos, start) <= max(pos, floor):
        return cut
    if toks.weight(toks.ended(start), toks.before(end)) > budget:
        return cut
    return start


def _split(
    text: str,
    toks: _Tokens,
    a: int,
    b: int,
    budget: int,
    overlap: int,
    records: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """Cut ``text[a:b]`` (inside one section) into spans of at most ``budget`` tokens by ``toks``'s count,
    consecutive spans sharing about ``overlap`` tokens. Spans are stripped of surrounding white space.
    ``records`` (sorted ``(start, end)`` spans) are kept whole where they fit (see :func:`_keep_record_whole`)."""
    spans: list[tuple[int, int]] = []
    pos = _skip_space(text, a, b)
    n_end = toks.before(b)
    prev_j, last_end = -1, -1
    while pos < b:
        i = toks.ended(pos)
        if toks.weight(i, n_end) <= budget:  # the rest fits
            end = _strip_end(text, pos, b)
            if end > max(pos, last_end):
                spans.append((pos, end))
            break
        k = toks.advance(i, budget, at_least=False)  # tokens i..k-1 fit; token k does not
        k = max(k, i + 1)
        # The cut keeps at least half of the window's new tokens (those after the overlap) when it can.
        fresh = max(i, prev_j)
        jmin = max(toks.advance(fresh, toks.weight(fresh, k) * _MIN_FILL, at_least=True), prev_j + 1, i + 1)
        jmin = min(jmin, k)
        # The cut must keep token jmin - 1 and come after the last chunk's end (a token may straddle it) ...
        lo = max(int(toks.starts[jmin - 1]), pos, last_end) + 1
        hi = int(toks.starts[k]) if k < toks.n else b  # ... and leave out token k
        # lo > hi when several tokens share one character (byte-level BPE) or a token straddles the last
        # end: then cut after that token, keeping characters whole.
        cut = _best_cut(text, lo, hi) if lo <= hi else max(int(toks.ends[jmin - 1]), lo)
        if records:
            cut = _keep_record_whole(text, toks, records, pos, cut, last_end, budget)
        end = _strip_end(text, pos, cut)
        if end > max(pos, last_end):
            spans.append((pos, end))
            last_end = end
        j = toks.before(cut)
        nxt = _overlap_start(text, toks, i, j, cut, overlap, budget) if overlap > 0 else cut
        nxt = _skip_space(text, nxt, b)
        pos = nxt if nxt > pos else _skip_space(text, max(cut, pos + 1), b)
        prev_j = j
    return spans


# --------------------------------------------------------------------------------------------- chunker


@dataclass(frozen=True)
class _Section:
    start: int
    end: int
    page: int | None
    heading: tuple[str, ...]
    records: list[tuple[int, int]] = field(default_factory=list)  # kept whole where they fit: rows, entries
    table_rows: list[tuple[int, int]] = field(default_factory=list)  # the records that are table rows


def _records(block: TextBlock, start: int) -> list[tuple[int, int]]:
    """The records of a block whose text starts at ``start``: each line of a table (a row) or list (an
    item), the whole of a definition-list entry."""
    kind = getattr(block, "kind", "text")
    if kind == "entry":
        return [(start, start + len(block.text))]
    if kind not in ("table", "list"):
        return []
    out = []
    offset = start
    for line in block.text.split("\n"):
        if line.strip():
            out.append((offset, offset + len(line)))
        offset += len(line) + 1
    return out


# A section is tokenized in one call; a long run of blocks under one heading (a 100 MB text file is one
# run) is cut at a block boundary every this many characters, so tokenizer memory stays bounded.
_MAX_SECTION_CHARS = 200_000


def _sections(loaded: LoadedFile) -> list[_Section]:
    """Runs of consecutive non-empty blocks with the same page and heading path, as spans of ``loaded.text``,
    each at most ``_MAX_SECTION_CHARS`` long unless a single block is longer."""
    sections: list[_Section] = []
    offset = 0
    for block in loaded.blocks:
        start, end = offset, offset + len(block.text)
        offset = end + 2  # the "\n\n" that joins blocks in LoadedFile.text
        if not block.text.strip():
            continue
        last = sections[-1] if sections else None
        records = _records(block, start)
        rows = records if getattr(block, "kind", "text") == "table" else []
        if (
            last is not None
            and last.page == block.page
            and last.heading == tuple(block.heading)
            and end - last.start <= _MAX_SECTION_CHARS
        ):
            last.records.extend(records)
            last.table_rows.extend(rows)
            sections[-1] = _Section(last.start, end, last.page, last.heading, last.records, last.table_rows)
        else:
            sections.append(_Section(start, end, block.page, tuple(block.heading), records, list(rows)))
    return sections


@dataclass
class _CutRows:
    """Table rows a file's chunks cut, and where the first one is ("on page 3 under 'Prices'")."""

    rows: int = 0
    where: str = ""


def _cut_rows(text: str, rows: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> int:
    """How many of ``rows`` (table rows, sorted) no chunk span holds whole. Spans start and end in
    increasing order, so the last span starting at or before a row is the one that could hold it."""
    starts = [a for a, _ in spans]
    cut = 0
    for start, end in rows:
        end = _strip_end(text, start, end)
        k = bisect.bisect_right(starts, start) - 1
        if end > start and (k < 0 or spans[k][1] < end):
            cut += 1
    return cut


def _windows(blocks: Iterable[TextBlock]) -> Iterator[tuple[int, list[TextBlock]]]:
    """Group a stream of blocks into windows of about ``_BATCH_CHARS`` characters, cut only where
    :func:`_sections` starts a new section anyway, each with its start offset in the whole file's text."""
    window: list[TextBlock] = []
    offset = pos = 0  # window start in the file's text; next block's start inside the window
    section: tuple[int, int | None, tuple[str, ...]] | None = None  # start, page, heading of the last one
    for block in blocks:
        start, end = pos, pos + len(block.text)
        if block.text.strip():
            heading = tuple(block.heading)
            new = (section is None or section[1] != block.page or section[2] != heading
                   or end - section[0] > _MAX_SECTION_CHARS)
            if new and window and pos >= _BATCH_CHARS:
                yield offset, window
                offset, window, start, end = offset + pos, [], 0, len(block.text)
            if new:
                section = (start, block.page, heading)
        window.append(block)
        pos = end + 2  # the "\n\n" that joins blocks in LoadedFile.text
    if window:
        yield offset, window


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return value


class Chunker:
    """Chunks :class:`~ingest.types.LoadedFile` objects by the tokens of one tokenizer.

    Args:
        tokenizer: the embedder's tokenizer: a transformers tokenizer (fast ones are used through their
            Rust backend, with offsets), or anything called like one that returns ``offset_mapping``.
            A slow tokenizer without offsets is used as a length function on words.
        length_function: instead of a tokenizer, ``text -> length`` (e.g. ``len`` for characters). It counts
            what ``max_tokens`` bounds, special tokens included: ``length_function("")`` is taken as their
            number. Chunks are sized by the sum of their words' lengths, which is approximate; with
            ``max_tokens`` every chunk is still checked with ``length_function`` itself.
        chunk_size: the most tokens of text in a chunk (special tokens not counted).
        chunk_overlap: about how many tokens consecutive chunks of one section share; ``< chunk_size``.
        max_tokens: the embedder's maximum sequence length, special tokens included (256 for
            all-MiniLM-L6-v2). When given, ``chunk_size`` must fit in it, and every chunk is verified
            against it; when ``None``, ``chunk_size`` is met as measured on each section's tokens, which is
            exact for WordPiece tokenizers and may be off by a token or two at a chunk's edges for BPE.

    Raises:
        ValueError: a setting out of range, or ``chunk_size`` too large for ``max_tokens``.
    """

    def __init__(
        self,
        tokenizer: Any = None,
        *,
        length_function: LengthFunction | None = None,
        chunk_size: int = 200,
        chunk_overlap: int = 40,
        max_tokens: int | None = None,
    ) -> None:
        if (tokenizer is None) == (length_function is None):
            raise ValueError("Pass exactly one of tokenizer= and length_function=.")
        self.chunk_size = _check_int("chunk_size", chunk_size, 1)
        self.chunk_overlap = _check_int("chunk_overlap", chunk_overlap, 0)
        if chunk_overlap >= chunk_size:
            raise ValueError(
                f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})."
            )
        self.max_tokens = None if max_tokens is None else _check_int("max_tokens", max_tokens, 1)
        if length_function is not None:
            if not callable(length_function):
                raise TypeError(f"length_function must be callable; got {type(length_function).__name__}.")
            self._source: _Source = _LengthSource(length_function)
        else:
            self._source = _source_for(tokenizer)
        self.num_special_tokens = self._source.count([""])[0]
        if self.max_tokens is not None and self.chunk_size > self.max_tokens - self.num_special_tokens:
            raise ValueError(
                f"chunk_size ({chunk_size}) does not fit max_tokens ({max_tokens}): the tokenizer adds "
                f"{self.num_special_tokens} special tokens, so chunk_size must be at most "
                f"{self.max_tokens - self.num_special_tokens}."
            )

    @classmethod
    def from_model_dir(
        cls,
        path: str | os.PathLike[str],
        *,
        chunk_size: int = 200,
        chunk_overlap: int = 40,
        max_tokens: int | None = None,
    ) -> Chunker:
        """A chunker for the model in a local folder: its tokenizer, and unless given, ``max_tokens`` from
        the folder's ``sentence_bert_config.json`` (see :func:`read_max_seq_length`)."""
        if max_tokens is None:
            max_tokens = read_max_seq_length(path)
        return cls(load_tokenizer(path), chunk_size=chunk_size, chunk_overlap=chunk_overlap, max_tokens=max_tokens)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the model sees for each text, special tokens included."""
        return self._source.count(list(texts))

    def chunk(self, loaded: LoadedFile) -> list[Document]:
        """The chunks of one file, in reading order, with the metadata described in the module docstring."""
        return list(self.iter_chunks(loaded.blocks, source=loaded.source, file_type=loaded.file_type, title=loaded.title))

    def iter_chunks(
        self,
        blocks: Iterable[TextBlock],
        *,
        source: str,
        file_type: str,
        title: str | Callable[[], str | None] | None = None,
        warnings: list[str] | None = None,
    ) -> Iterator[Document]:
        """Chunks of a stream of blocks, as they come: the same chunks as :meth:`chunk` on the whole file,
        holding about one megabyte of text at a time. ``title`` may be a callable, read at each window
        (a streamed Markdown file learns its title from its first heading). Once the stream is exhausted,
        table rows too long for one chunk (cut across chunks) are counted in a line of ``warnings``."""
        index = 0
        cut = _CutRows()
        for offset, window in _windows(blocks):
            part = LoadedFile(source=source, file_type=file_type, blocks=window,  # type: ignore[arg-type]
                              title=title() if callable(title) else title)
            for doc in self._chunk_window(part, offset, index, cut):
                index += 1
                yield doc
        if cut.rows and warnings is not None:
            warnings.append(f"truncated tables: {cut.rows} table row(s) longer than a chunk ({self.chunk_size} "
                            f"tokens) cut across chunks, the first {cut.where}; a larger chunk_size keeps them whole")

    def _chunk_window(
        self, loaded: LoadedFile, offset: int, first_index: int, cut: _CutRows | None = None
    ) -> list[Document]:
        """Chunks of a window of blocks whose text starts at ``offset`` in the whole file's text; table rows
        cut across chunks are counted in ``cut``."""
        text = loaded.text
        base: dict[str, str | int] = {"source": loaded.source, "file_type": loaded.file_type}
        if loaded.title:
            base["title"] = loaded.title
        docs: list[Document] = []
        for batch in _batches(_sections(loaded)):
            all_toks = self._source.tokenize([text[s.start : s.end] for s in batch], [s.start for s in batch])
            all_spans = [
                _split(text, toks, section.start, section.end, self.chunk_size, self.chunk_overlap, section.records)
                for section, toks in zip(batch, all_toks, strict=True)
            ]
            if self.max_tokens is not None:
                all_spans = self._verify(text, all_toks, all_spans, self.max_tokens)
            for section, spans in zip(batch, all_spans, strict=True):
                if cut is not None and section.table_rows and (n := _cut_rows(text, section.table_rows, spans)):
                    if not cut.rows:
                        place = [f"on page {section.page}"] if section.page is not None else []
                        place += [f"under {HEADING_SEPARATOR.join(section.heading)!r}"] if section.heading else []
                        cut.where = " ".join(place) or "in the text"
                    cut.rows += n
                meta = dict(base)
                if section.page is not None:
                    meta["page"] = int(section.page)
                if section.heading:
                    meta["heading"] = HEADING_SEPARATOR.join(section.heading)
                for start, end in spans:
                    chunk = text[start:end]
                    docs.append(
                        Document(
                            page_content=chunk,
                            metadata={
                                **meta,
                                "chunk_index": first_index + len(docs),
                                "start_index": offset + start,
                                "end_index": offset + end,
                                "content_hash": hashlib.sha256(chunk.encode("utf-8", "surrogatepass")).hexdigest(),
                            },
                        )
                    )
        return docs

    def _verify(
        self, text: str, all_toks: list[_Tokens], all_spans: list[list[tuple[int, int]]], max_tokens: int
    ) -> list[list[tuple[int, int]]]:
        """Count every chunk's tokens on its own, in one call to the tokenizer for the whole batch, and cut
        again the chunks over ``max_tokens``. With a BERT WordPiece tokenizer, a chunk with white space on
        both sides is known to have its section's tokens plus the special ones, and is not tokenized again."""
        exact = getattr(self._source, "exact_at_spaces", False)
        counts: list[list[int | None]] = []
        unknown: list[str] = []
        for toks, spans in zip(all_toks, all_spans, strict=True):
            row: list[int | None] = []
            for a, z in spans:
                if exact and (a == 0 or _bert_space(text[a - 1])) and (z == len(text) or _bert_space(text[z])):
                    row.append(toks.weight(toks.ended(a), toks.before(z)) + self.num_special_tokens)
                else:
                    row.append(None)
                    unknown.append(text[a:z])
            counts.append(row)
        measured = iter(self._source.count(unknown))
        return [
            _drop_contained(
                self._fit(text, toks, spans, self.chunk_size, max_tokens, [next(measured) if c is None else c for c in row])
            )
            for toks, spans, row in zip(all_toks, all_spans, counts, strict=True)
        ]

    def _fit(
        self,
        text: str,
        toks: _Tokens,
        spans: list[tuple[int, int]],
        budget: int,
        max_tokens: int,
        counts: list[int] | None = None,
    ) -> list[tuple[int, int]]:
        """Verify spans against ``max_tokens`` by tokenizing them on their own (``counts`` when known); cut
        again those over it."""
        if counts is None:
            counts = self._source.count([text[s:e] for s, e in spans])
        out: list[tuple[int, int]] = []
        for (s, e), count in zip(spans, counts, strict=True):
            if count <= max_tokens:
                out.append((s, e))
                continue
            estimate = toks.weight(toks.ended(s), toks.before(e))
            smaller = min(budget, estimate) - max(1, count - max_tokens)
            if smaller >= 1:
                out.extend(self._fit(text, toks, _split(text, toks, s, e, smaller, 0), smaller, max_tokens))
            elif e - s > 1:  # one token that grows on its own: halve by characters
                mid = s + (e - s) // 2
                halves = [(a, _strip_end(text, a, z)) for a, z in ((s, mid), (_skip_space(text, mid, e), e))]
                out.extend(self._fit(text, toks, [(a, z) for a, z in halves if z > a], 1, max_tokens))
            else:
                raise ValueError(
                    f"The character {text[s:e]!r} alone is {count} tokens, more than max_tokens ({max_tokens})."
                )
        return out


def _drop_contained(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort spans by start and drop those inside another one (a piece of a chunk that was cut again is often
    inside its neighbour, thanks to the overlap), so starts and ends both strictly increase."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda sp: (sp[0], -sp[1])):
        if not out or end > out[-1][1]:
            out.append((start, end))
    return out


def _batches(sections: list[_Section]) -> list[list[_Section]]:
    batches: list[list[_Section]] = []
    size = _BATCH_CHARS
    for section in sections:
        if size >= _BATCH_CHARS:
            batches.append([])
            size = 0
        batches[-1].append(section)
        size += section.end - section.start
    return batches


def chunk_file(
    loaded: LoadedFile,
    tokenizer: Any,
    *,
    chunk_size: int = 200,
    chunk_overlap: int = 40,
    max_tokens: int | None = None,
) -> list[Document]:
    """Chunk one file: ``Chunker(tokenizer, ...).chunk(loaded)``. See :class:`Chunker` for the arguments.

    The tokenizer's backend copy is cached per tokenizer object, so calling this once per file is cheap.
    """
    chunker = Chunker(tokenizer, chunk_size=chunk_size, chunk_overlap=chunk_overlap, max_tokens=max_tokens)
    return chunker.chunk(loaded)


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """How many tokens ``tokenizer`` gives each text, special tokens included, without truncation:
    ``len(tokenizer(text)["input_ids"])``, computed in one batch through the cached backend copy."""
    return _source_for(tokenizer).count(list(texts))


def load_tokenizer(path: str | os.PathLike[str]) -> Any:
    """The tokenizer saved in a local model folder (``rag_app`` resolves model names to folders)."""
    from transformers import AutoTokenizer

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"No model folder at {folder}: pass a local directory holding a tokenizer.")
    return AutoTokenizer.from_pretrained(folder)


def read_max_seq_length(path: str | os.PathLike[str]) -> int | None:
    """``max_seq_length`` from a sentence-transformers folder's ``sentence_bert_config.json``, or ``None``."""
    config = Path(path) / "sentence_bert_config.json"
    if not config.is_file():
        return None
    value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
    return int(value) if isinstance(value, int) and value > 0 else None
