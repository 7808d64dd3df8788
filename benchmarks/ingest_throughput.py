"""Ingest throughput and memory: ``rag-app ingest`` against the pipeline a LangChain user writes from the docs.

On the same files and the same bundled embedder (all-MiniLM-L6-v2), each phase in its own process:

  (a) LangChain as documented: PyPDFLoader / BSHTMLLoader / TextLoader,
      RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200), HuggingFaceEmbeddings,
      Chroma.from_documents;
  (b) our pipeline (``rag_app.pipeline.build_pipeline(settings, generator=False).ingest``, as ``rag-app
      ingest`` runs it) into a fresh database;
  (c) our pipeline again on the unchanged files.

It prints files/s, pages/s (PDF pages; other files count as one page), chunks/s and peak RSS for each, and the
ratios (b)/(a) (target >= 1.0, on pages/s) and (c) against (b) (target: at least 20x faster). Model loading is
timed separately and not counted in the throughput.

``--large-mb N`` adds (d): N MB of generated text files through our pipeline with a fast hashing embedding
in place of the model (which would take hours on a CPU), to check that peak RSS stays bounded (target:
under 2 GiB for 200 MB). Run: ``python benchmarks/ingest_throughput.py [--data DIR] [--large-mb 200]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faq_eval import hashing_ingestor

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "python-faq" / "corpus"
ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pdf_pages(files: list[Path]) -> int:
    from pypdf import PdfReader

    return sum(len(PdfReader(f).pages) if f.suffix == ".pdf" else 1 for f in files)


def phase_langchain(data: Path, db: Path) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import BSHTMLLoader, PyPDFLoader, TextLoader
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from retrievers import resolve_model

    start = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(model_name=str(resolve_model("minilm").path))
    load_s = time.perf_counter() - start
    files = sorted(p for p in data.rglob("*") if p.is_file())
    start = time.perf_counter()
    docs = []
    for path in files:
        if path.suffix == ".pdf":
            docs.extend(PyPDFLoader(str(path)).load())
        elif path.suffix in {".html", ".htm"}:
            docs.extend(BSHTMLLoader(str(path)).load())
        else:
            docs.extend(TextLoader(str(path), autodetect_encoding=True).load())
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    Chroma.from_documents(chunks, embeddings, persist_directory=str(db))
    return {"files": len(files), "pages": _pdf_pages(files), "chunks": len(chunks),
            "seconds": time.perf_counter() - start, "model_load_s": load_s, "peak_rss_mib": _peak_rss_mib()}


def phase_ours(data: Path, db: Path) -> dict:
    from rag_app.config import load_settings
    from rag_app.pipeline import build_pipeline

    settings = load_settings(index={"db": db, "collection": "bench"},  # the embedder only: no reranker to load
                             retrieval={"embedder": "minilm", "reranker": "", "mode": "dense"})
    start = time.perf_counter()
    pipeline = build_pipeline(settings, generator=False)
    pipeline.ingestor()  # opens the writer (and loads nothing more): part of the set-up, not of the throughput
    load_s = time.perf_counter() - start
    files = sorted(p for p in data.rglob("*") if p.is_file())
    start = time.perf_counter()
    with pipeline:
        report = pipeline.ingest([data])
        seconds = time.perf_counter() - start
    if report.files_failed:
        raise SystemExit(f"ingest failed: {report.files_failed}")
    return {"files": len(files), "pages": _pdf_pages(files), "chunks": report.chunks_added,
            "chunks_total": report.chunks_total, "unchanged": report.files_unchanged,
            "seconds": seconds, "model_load_s": load_s, "peak_rss_mib": _peak_rss_mib()}


def phase_large(data: Path, db: Path) -> dict:
    """Our pipeline on generated text with a hashing embedding: memory, not model speed."""
    ingestor = hashing_ingestor(db, "large")
    start = time.perf_counter()
    report = ingestor.ingest([data])
    size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    return {"files": report.files_ingested, "megabytes": size / 1e6, "chunks": report.chunks_added,
            "failed": len(report.files_failed), "seconds": time.perf_counter() - start, "peak_rss_mib": _peak_rss_mib()}


PHASES = {"langchain": phase_langchain, "ours": phase_ours, "large": phase_large}


def _child(phase: str, data: Path, db: Path) -> dict:
    """Run one phase in a fresh interpreter so its peak RSS is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--data", str(data), "--db", str(db)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _make_large(folder: Path, megabytes: int, seed_texts: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = megabytes * 1_000_000
    per_file = 2_000_000
    written, n = 0, 0
    base = "\n\n".join(seed_texts) or "Lorem ipsum dolor sit amet. " * 1000
    while written < target:
        # Vary the text per file so chunks are not all identical.
        body = (f"File {n}. " + base + "\n\n") * max(1, per_file // max(1, len(base)))
        (folder / f"part-{n:04d}.txt").write_text(body[: min(per_file, target - written)], encoding="utf-8")
        written += min(per_file, target - written)
        n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of documents (default: %(default)s)")
    parser.add_argument("--large-mb", type=int, default=0, help="also ingest this many MB of generated text (memory check)")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.data, args.db)))
        return
    if not args.data.is_dir():
        sys.exit(f"{args.data} is not a folder; pass --data DIR (the python-faq corpus, see README 'Data').")
    with tempfile.TemporaryDirectory() as tmp:
        a = _child("langchain", args.data, Path(tmp) / "a")
        b = _child("ours", args.data, Path(tmp) / "b")
        c = _child("ours", args.data, Path(tmp) / "b")
        rows = [("(a) LangChain docs pipeline", a), ("(b) rag-app ingest", b), ("(c) rag-app ingest, unchanged", c)]
        print(f"{'phase':32} {'files/s':>9} {'pages/s':>9} {'chunks':>7} {'chunks/s':>9} {'seconds':>8} {'model load s':>12} {'peak RSS MiB':>12}")
        for name, r in rows:
            print(f"{name:32} {r['files'] / r['seconds']:9.2f} {r['pages'] / r['seconds']:9.2f} {r['chunks']:7d} "
                  f"{r['chunks'] / r['seconds']:9.1f} {r['seconds']:8.2f} {r['model_load_s']:12.2f} {r['peak_rss_mib']:12.0f}")
        ratio = (b["pages"] / b["seconds"]) / (a["pages"] / a["seconds"])
        chunk_ratio = (b["chunks"] / b["seconds"]) / (a["chunks"] / a["seconds"])
        speedup = b["seconds"] / c["seconds"]
        print(f"(b)/(a) pages/s ratio: {ratio:.2f} (target >= 1.0: {'met' if ratio >= 1.0 else 'NOT met'}); "
              f"chunks/s ratio: {chunk_ratio:.2f}")
        print(f"(c) is {speedup:.0f}x faster than (b) (target >= 20x: {'met' if speedup >= 20 else 'NOT met'}); "
              f"(c) embedded {c['chunks']} chunks, {c['unchanged']} files unchanged")
        if args.large_mb:
            texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(args.data.glob("*.txt"))[:3]]
            if not texts:
                from ingest.loaders import load_file

                texts = [load_file(p).text for p in sorted(args.data.glob("*.html"))[:3]]
            big = Path(tmp) / "large"
            _make_large(big, args.large_mb, texts)
            d = _child("large", big, Path(tmp) / "d")
            print(f"(d) {d['megabytes']:.0f} MB of text, {d['files']} files, {d['chunks']} chunks in {d['seconds']:.0f} s "
                  f"with a hashing embedding: peak RSS {d['peak_rss_mib']:.0f} MiB "
                  f"(target < 2048 MiB: {'met' if d['peak_rss_mib'] < 2048 else 'NOT met'})")


if __name__ == "__main__":
    main()
