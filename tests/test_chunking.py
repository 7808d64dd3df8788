"""Chunking by the embedder's tokens: boundaries, overlap, exact offsets, metadata, and the max-token bound.

Hand-built files pin exact chunks with the bundled MiniLM tokenizer (WordPiece: each word used here is one
token, and so is "."). A seeded property test over random texts checks the invariants with MiniLM, the tiny
WordPiece tokenizer and the tiny byte-level BPE tokenizer of ``tests/tiny_models.py``.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from ingest.chunking import Chunker, chunk_file, count_tokens, read_max_seq_length
from ingest.types import LoadedFile, TextBlock
from retrievers.model_names import resolve_model
from tests import tiny_models

WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
# Twelve sentences of exactly five MiniLM tokens each: "sentence", the number, "is", "here", ".".
SENTENCES = [f"Sentence {w} is here." for w in WORDS]


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    return resolve_model("minilm").path


@pytest.fixture(scope="module")
def minilm(minilm_dir: Path):
    return AutoTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def tiny_wordpiece(tmp_path_factory: pytest.TempPathFactory):
    return tiny_models.bert_tokenizer(tmp_path_factory.mktemp("tiny-wordpiece"))


@pytest.fixture(scope="module")
def tiny_bpe():
    return tiny_models.llama_tokenizer()


def n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text)["input_ids"])


def texts(docs) -> list[str]:
    return [d.page_content for d in docs]


def assert_offsets_exact(loaded: LoadedFile, docs) -> None:
    full = loaded.text
    for d in docs:
        assert full[d.metadata["start_index"] : d.metadata["end_index"]] == d.page_content


# ------------------------------------------------------------------------------------------ structure


def test_sections_by_heading_and_page_with_exact_metadata(minilm):
    blocks = [
        TextBlock("Intro text here.", ("Guide",), page=1),
        TextBlock("More intro.", ("Guide",), page=1),
        TextBlock("Setup steps.", ("Guide", "Setup"), page=1),
        TextBlock("Still setup.", ("Guide", "Setup"), page=2),
        TextBlock("No heading.", (), page=2),
    ]
    loaded = LoadedFile("docs/guide.pdf", "pdf", blocks, title="The Guide", pages=2)
    docs = chunk_file(loaded, minilm, chunk_size=50, chunk_overlap=10, max_tokens=256)

    # Small blocks of one section merge; a change of heading or page always starts a new chunk.
    assert texts(docs) == ["Intro text here.\n\nMore intro.", "Setup steps.", "Still setup.", "No heading."]
    starts = [0, len("Intro text here.\n\nMore intro.\n\n")]
    starts += [starts[1] + len("Setup steps.\n\n"), starts[1] + len("Setup steps.\n\nStill setup.\n\n")]
    common = {"source": "docs/guide.pdf", "file_type": "pdf", "title": "The Guide"}
    expected = [
        {**common, "page": 1, "heading": "Guide"},
        {**common, "page": 1, "heading": "Guide > Setup"},
        {**common, "page": 2, "heading": "Guide > Setup"},
        {**common, "page": 2},  # no heading: the key is left out
    ]
    for index, (doc, start, meta) in enumerate(zip(docs, starts, expected, strict=True)):
        assert doc.metadata == {
            **meta,
            "chunk_index": index,
            "start_index": start,
            "end_index": start + len(doc.page_content),
            "content_hash": hashlib.sha256(doc.page_content.encode()).hexdigest(),
        }
        # Chroma accepts str, int, float and bool values only: no None, no lists.
        assert all(type(v) in (str, int) for v in doc.metadata.values())
    assert_offsets_exact(loaded, docs)


def test_no_title_no_page_no_heading_keys_are_absent(minilm):
    loaded = LoadedFile("notes.txt", "text", [TextBlock("Just a note.")])
    (doc,) = chunk_file(loaded, minilm)
    assert set(doc.metadata) == {"source", "file_type", "chunk_index", "start_index", "end_index", "content_hash"}


def test_empty_and_blank_blocks_give_no_chunks(minilm):
    assert chunk_file(LoadedFile("e.txt", "text", []), minilm) == []
    assert chunk_file(LoadedFile("e.txt", "text", [TextBlock(""), TextBlock("  \n ")]), minilm) == []


def test_blank_blocks_are_skipped_and_offsets_stay_exact(minilm):
    loaded = LoadedFile("b.md", "markdown", [TextBlock("  First.  "), TextBlock(""), TextBlock("Second.\n")])
    docs = chunk_file(loaded, minilm, chunk_size=50, chunk_overlap=0)
    assert texts(docs) == ["First.  \n\n\n\nSecond."]
    assert docs[0].metadata["start_index"] == 2
    assert_offsets_exact(loaded, docs)


# ------------------------------------------------------------------------------------------ boundaries


def test_long_paragraph_splits_at_sentence_ends(minilm):
    loaded = LoadedFile("p.txt", "text", [TextBlock(" ".join(SENTENCES))])
    # 22 tokens would reach into the fifth sentence: the cut goes back to the end of the fourth.
    docs = chunk_file(loaded, minilm, chunk_size=22, chunk_overlap=0)
    assert texts(docs) == [" ".join(SENTENCES[0:4]), " ".join(SENTENCES[4:8]), " ".join(SENTENCES[8:12])]
    assert_offsets_exact(loaded, docs)


def test_overlap_repeats_the_last_sentence(minilm):
    loaded = LoadedFile("p.txt", "text", [TextBlock(" ".join(SENTENCES))])
    docs = chunk_file(loaded, minilm, chunk_size=20, chunk_overlap=5)
    # Each chunk starts with the sentence (5 tokens) that ended the previous one.
    assert texts(docs) == [
        " ".join(SENTENCES[0:4]),
        " ".join(SENTENCES[3:7]),
        " ".join(SENTENCES[6:10]),
        " ".join(SENTENCES[9:12]),
    ]
    assert_offsets_exact(loaded, docs)
    spans = [(d.metadata["start_index"], d.metadata["end_index"]) for d in docs]
    assert all(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False))  # they do overlap


def test_overlap_between_half_and_one_and_a_half_times_the_setting(minilm):
    rng = random.Random(1)
    paragraph = " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))).capitalize() + "." for _ in range(200)
    )
    loaded = LoadedFile("p.txt", "text", [TextBlock(paragraph)])
    docs = chunk_file(loaded, minilm, chunk_size=60, chunk_overlap=20)
    assert len(docs) > 10
    for a, b in zip(docs, docs[1:], strict=False):
        shared = loaded.text[b.metadata["start_index"] : a.metadata["end_index"]]
        assert 10 <= n_tokens(minilm, shared) - 2 <= 30


def test_paragraph_break_beats_a_later_sentence_end(minilm):
    a = " ".join(SENTENCES[0:3])  # 15 tokens
    b = " ".join(SENTENCES[3:6])
    loaded = LoadedFile("p.md", "markdown", [TextBlock(f"{a}\n\n{b}")])
    docs = chunk_file(loaded, minilm, chunk_size=20, chunk_overlap=0)
    assert texts(docs) == [a, b]


def test_words_when_there_is_no_sentence_end(minilm):
    words = [WORDS[i % 12] for i in range(30)]
    loaded = LoadedFile("w.txt", "text", [TextBlock(" ".join(words))])
    docs = chunk_file(loaded, minilm, chunk_size=10, chunk_overlap=0)
    assert texts(docs) == [" ".join(words[0:10]), " ".join(words[10:20]), " ".join(words[20:30])]


def test_line_breaks_before_spaces(minilm):
    lines = [" ".join(WORDS[:4])] * 6  # 4 tokens a line, no sentence end
    loaded = LoadedFile("l.txt", "text", [TextBlock("\n".join(lines))])
    docs = chunk_file(loaded, minilm, chunk_size=10, chunk_overlap=0)
    assert texts(docs) == ["\n".join(lines[0:2])] * 3


def test_raw_token_boundaries_as_last_resort(minilm):
    line = "x=1;" * 500  # 2,000 characters, no space: 2,000 tokens ("x", "=", "1", ";")
    loaded = LoadedFile("code.txt", "text", [TextBlock(line)])
    docs = chunk_file(loaded, minilm, chunk_size=50, chunk_overlap=0, max_tokens=52)
    assert "".join(texts(docs)) == line
    assert len(docs) == 40
    assert all(n_tokens(minilm, d.page_content) <= 52 for d in docs)


# ------------------------------------------------------------------------------------------ the bound


def test_chunk_size_counts_text_tokens_without_max_tokens(minilm):
    rng = random.Random(2)
    body = "\n\n".join(
        " ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 30))) + rng.choice(".,!?;")
                 for _ in range(rng.randint(1, 20)))
        for _ in range(30)
    )
    loaded = LoadedFile("r.txt", "text", [TextBlock(body)])
    docs = chunk_file(loaded, minilm, chunk_size=64, chunk_overlap=16)
    counts = [n_tokens(minilm, d.page_content) - 2 for d in docs]
    assert max(counts) <= 64
    assert sum(counts) / len(counts) > 40  # chunks are filled, not tiny


ALPHABET = [
    "the", "cat", "Python", "embedding", "naïve", "Ünïcödé", "你好", "世界", "🙂", "https://example.com/a?b=c",
    "x" * 150, "a.b.c", "foo-bar", "e.g.", "3.14", "(paren)", '"quoted."', "[CLS]", "<|im_end|>", "\u200b",
    "日本語。", "!?", "…", "ab" * 40, "e\u0301", "\u0301x", "İ", "ﬁ", "x[SEP]",
]
# Python's isspace() says yes to all of these; BERT's normalizer deletes some (\x1c, \x0b) and keeps others.
SEPARATORS = [" ", " ", " ", " ", ". ", ", ", "\n", "\n\n", "", "  ", ". \n", "? ", "\t", "\x1c", "\x0b", "\x85",
              "\u2028", "\xa0", "\u3000"]


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.1:  # no space at all
        return "".join(rng.choice("abcdefXYZ0123456789+/=") for _ in range(rng.randint(100, 3000)))
    parts = []
    for _ in range(rng.choice([1, 5, 30, 200])):
        if rng.random() < 0.3:
            parts.append(rng.choice(ALPHABET))
        else:
            parts.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 12))))
        parts.append(rng.choice(SEPARATORS))
    return "".join(parts)


def check_invariants(tokenizer, loaded: LoadedFile, docs, max_tokens: int) -> None:
    full = loaded.text
    spans, offset = [], 0
    for block in loaded.blocks:
        spans.append((offset, offset + len(block.text), block))
        offset += len(block.text) + 2
    covered = bytearray(len(full))
    previous = None
    for index, doc in enumerate(docs):
        meta = doc.metadata
        start, end = meta["start_index"], meta["end_index"]
        assert meta["chunk_index"] == index
        assert full[start:end] == doc.page_content == doc.page_content.strip() != ""
        assert (len(doc.page_content) if tokenizer is len else n_tokens(tokenizer, doc.page_content)) <= max_tokens
        # One page and one heading path for all the chunk's text.
        inside = [b for s, e, b in spans if s < end and start < e and b.text.strip()]
        assert len({(b.page, b.heading) for b in inside}) == 1
        assert meta.get("page") == inside[0].page
        assert meta.get("heading") == (" > ".join(inside[0].heading) or None)
        key = (inside[0].page, inside[0].heading)
        if previous is not None and previous[2] == key:
            assert start > previous[0] and end > previous[1]
        previous = (start, end, key)
        covered[start:end] = b"\x01" * (end - start)
    lost = [i for i, ch in enumerate(full) if not covered[i] and not ch.isspace()]
    assert not lost, f"text left out of every chunk at {lost[:5]}"


@pytest.mark.parametrize("which", ["minilm", "tiny_wordpiece", "tiny_bpe"])
def test_property_random_texts_respect_max_tokens(which, request):
    tokenizer = request.getfixturevalue(which)
    specials = count_tokens(tokenizer, [""])[0]
    rng = random.Random(1234)
    for _ in range(150):
        chunk_size = rng.randint(4, 60)
        chunker = Chunker(
            tokenizer, chunk_size=chunk_size, chunk_overlap=rng.randint(0, chunk_size - 1),
            max_tokens=chunk_size + specials,
        )
        blocks = [
            TextBlock(random_text(rng), heading=rng.choice([(), ("A",), ("A", "B")]), page=rng.choice([None, 1, 2]))
            for _ in range(rng.randint(1, 5))
        ]
        loaded = LoadedFile("r.txt", "text", blocks)
        check_invariants(tokenizer, loaded, chunker.chunk(loaded), chunk_size + specials)


def test_property_length_function_len():
    rng = random.Random(99)
    for _ in range(100):
        chunk_size = rng.randint(8, 300)
        chunker = Chunker(
            length_function=len, chunk_size=chunk_size, chunk_overlap=rng.randint(0, chunk_size - 1),
            max_tokens=chunk_size,
        )
        blocks = [TextBlock(random_text(rng), heading=rng.choice([(), ("A",)])) for _ in range(rng.randint(1, 4))]
        loaded = LoadedFile("r.txt", "text", blocks)
        check_invariants(len, loaded, chunker.chunk(loaded), chunk_size)


def test_cut_inside_a_piece_loses_nothing():
    # With a length function, "日本語。izizapnxdcdv" is one piece; the sentence end inside it is a cut.
    text = "wazfhy dfjffnze aev. 日本語。izizapnxdcdv \t? tcozekql wazfhy ffyxda"
    loaded = LoadedFile("c.txt", "text", [TextBlock(text)])
    docs = Chunker(length_function=len, chunk_size=17, chunk_overlap=5, max_tokens=17).chunk(loaded)
    check_invariants(len, loaded, docs, 17)


def test_minilm_full_window_on_prose(minilm):
    rng = random.Random(3)
    vocabulary = ["retrieval", "model", "query", "passage", "index", "chunk", "token", "embedding", "vector", "search", "answer"]
    body = "\n\n".join(
        " ".join(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 25))).capitalize() + "."
                 for _ in range(rng.randint(1, 40)))
        for _ in range(40)
    )
    loaded = LoadedFile("prose.md", "markdown", [TextBlock(body, ("Doc",))])
    docs = chunk_file(loaded, minilm, chunk_size=254, chunk_overlap=40, max_tokens=256)
    check_invariants(minilm, loaded, docs, 256)
    assert max(n_tokens(minilm, d.page_content) for d in docs) > 200


def test_chunks_over_max_tokens_are_cut_again():
    # A length function that a chunk's words do not add up to: six words or more cost one token extra.
    def length(text: str) -> int:
        words = len(text.split())
        return words + (1 if words >= 6 else 0)

    body = " ".join(WORDS * 4)  # 48 words, no sentence end
    loaded = LoadedFile("w.txt", "text", [TextBlock(body)])
    docs = Chunker(length_function=length, chunk_size=8, chunk_overlap=0, max_tokens=8).chunk(loaded)
    assert all(length(d.page_content) <= 8 for d in docs)
    assert " ".join(texts(docs)) == body  # nothing lost, nothing repeated


def test_length_function_len_bounds_characters():
    rng = random.Random(4)
    body = " ".join("".join(rng.choice("abcdef") for _ in range(rng.randint(1, 9))) for _ in range(2000))
    loaded = LoadedFile("c.txt", "text", [TextBlock(body)])
    docs = Chunker(length_function=len, chunk_size=100, chunk_overlap=20, max_tokens=100).chunk(loaded)
    assert max(len(d.page_content) for d in docs) <= 100
    assert min(len(d.page_content) for d in docs[:-1]) >= 40
    assert_offsets_exact(loaded, docs)


def test_tokenizer_json_truncation_is_ignored(minilm):
    # MiniLM's tokenizer.json carries max_length=128 truncation: counting must not stop there.
    assert count_tokens(minilm, ["word " * 300]) == [302]


# ------------------------------------------------------------------------------------------ scale


def test_multi_megabyte_paragraph_is_not_quadratic(tiny_wordpiece):
    # About 2 MB in one block with no paragraph break (sentences only), then a no-space line of 200 kB.
    sentence = "the cat sat on the mat. python has modules, classes and exceptions. "
    body = sentence * (2_000_000 // len(sentence))
    code = "a+b;" * 50_000
    loaded = LoadedFile("big.txt", "text", [TextBlock(body), TextBlock(code)])
    docs = chunk_file(loaded, tiny_wordpiece, chunk_size=100, chunk_overlap=20, max_tokens=102)
    assert len(docs) > 8_000
    full = loaded.text
    for doc in docs[::997] + docs[-3:]:
        assert full[doc.metadata["start_index"] : doc.metadata["end_index"]] == doc.page_content
    ends = [d.metadata["end_index"] for d in docs]
    assert ends == sorted(set(ends)) and ends[-1] == len(full)


# ------------------------------------------------------------------------------------------ settings


def test_chunk_size_must_leave_room_for_special_tokens(minilm):
    with pytest.raises(ValueError, match=r"chunk_size \(255\) does not fit max_tokens \(256\).*at most 254"):
        Chunker(minilm, chunk_size=255, chunk_overlap=0, max_tokens=256)
    assert Chunker(minilm, chunk_size=254, chunk_overlap=0, max_tokens=256).num_special_tokens == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_size": 0}, "chunk_size must be an integer >= 1"),
        ({"chunk_size": 10.5}, "chunk_size must be an integer >= 1"),
        ({"chunk_size": True}, "chunk_size must be an integer >= 1"),
        ({"chunk_overlap": -1}, "chunk_overlap must be an integer >= 0"),
        ({"chunk_size": 40, "chunk_overlap": 40}, r"chunk_overlap \(40\) must be smaller than chunk_size \(40\)"),
        ({"max_tokens": 0}, "max_tokens must be an integer >= 1"),
    ],
)
def test_bad_settings(minilm, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Chunker(minilm, **kwargs)


def test_tokenizer_or_length_function(minilm):
    with pytest.raises(ValueError, match="exactly one of tokenizer= and length_function="):
        Chunker()
    with pytest.raises(ValueError, match="exactly one of tokenizer= and length_function="):
        Chunker(minilm, length_function=len)
    with pytest.raises(TypeError, match="transformers tokenizer"):
        Chunker(object())


def test_from_model_dir_reads_max_seq_length(minilm_dir, tmp_path):
    assert read_max_seq_length(minilm_dir) == 256
    assert read_max_seq_length(tmp_path) is None
    chunker = Chunker.from_model_dir(minilm_dir, chunk_size=254, chunk_overlap=10)
    assert chunker.max_tokens == 256
    with pytest.raises(ValueError, match="max_tokens"):
        Chunker.from_model_dir(minilm_dir, chunk_size=255, chunk_overlap=10)
    with pytest.raises(FileNotFoundError):
        Chunker.from_model_dir(tmp_path / "missing")


def test_chunk_file_equals_chunker(minilm):
    loaded = LoadedFile("p.txt", "text", [TextBlock(" ".join(SENTENCES))])
    first = chunk_file(loaded, minilm, chunk_size=20, chunk_overlap=5, max_tokens=256)
    again = Chunker(minilm, chunk_size=20, chunk_overlap=5, max_tokens=256).chunk(loaded)
    assert first == again


def test_long_runs_under_one_heading_are_tokenized_in_bounded_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    """A huge file without headings is one run of blocks; it is cut at block boundaries so that tokenizer
    memory stays bounded, and chunks never straddle a cut."""
    import ingest.chunking as chunking

    monkeypatch.setattr(chunking, "_MAX_SECTION_CHARS", 120)
    blocks = [TextBlock(f"Paragraph number {i} has a few words in it.") for i in range(12)]
    loaded = LoadedFile(source="big.txt", file_type="text", blocks=blocks)
    sections = chunking._sections(loaded)
    assert len(sections) > 1
    assert all(s.end - s.start <= 120 for s in sections)
    cuts = [(s.start, s.end) for s in sections]
    # Sections start and end on block boundaries and cover every block.
    text = loaded.text
    assert all(text[a:b].startswith("Paragraph") and text[a:b].endswith(".") for a, b in cuts)
    assert sum(text[a:b].count("Paragraph") for a, b in cuts) == 12
    tok = AutoTokenizer.from_pretrained(str(resolve_model("minilm").path))
    for doc in chunk_file(loaded, tok, chunk_size=30, chunk_overlap=5, max_tokens=64):
        start, end = doc.metadata["start_index"], doc.metadata["end_index"]
        assert any(a <= start and end <= b for a, b in cuts)


def test_streamed_chunks_equal_whole_file_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """iter_chunks holds a window of blocks at a time and still gives exactly chunk()'s chunks and offsets."""
    import ingest.chunking as chunking

    monkeypatch.setattr(chunking, "_BATCH_CHARS", 150)
    monkeypatch.setattr(chunking, "_MAX_SECTION_CHARS", 200)
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    blocks = []
    for i in range(40):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) + "."
        blocks.append(TextBlock(text if i % 9 else "   ", heading=("H", str(i // 7)), page=1 + i // 13))
    loaded = LoadedFile(source="s.pdf", file_type="pdf", blocks=blocks, title="T")
    tok = AutoTokenizer.from_pretrained(str(resolve_model("minilm").path))
    chunker = Chunker(tok, chunk_size=20, chunk_overlap=4, max_tokens=64)
    whole = chunker.chunk(loaded)
    windows = list(chunking._windows(blocks))
    assert len(windows) > 2
    streamed = list(chunker.iter_chunks(iter(blocks), source="s.pdf", file_type="pdf", title=lambda: "T"))
    assert [(d.page_content, d.metadata) for d in streamed] == [(d.page_content, d.metadata) for d in whole]
    for doc in streamed:
        assert loaded.text[doc.metadata["start_index"] : doc.metadata["end_index"]] == doc.page_content
