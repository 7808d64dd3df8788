"""Generators from settings, and `rag-app ask` end to end on the bundled SmolLM2 through llama.cpp."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag_app.cli import app
from rag_app.config import GeneratorSettings
from rag_app.generators import build_generator, llama_cpp_generator

SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"


def test_llama_cpp_needs_a_gguf_model(tiny_encoder_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"is not a GGUF file; the llama-cpp backend runs \.gguf models"):
        llama_cpp_generator(str(tiny_encoder_dir))


def test_unbuilt_backends_say_so() -> None:
    with pytest.raises(ValueError, match="generator.backend 'transformers' is not available yet"):
        build_generator(GeneratorSettings(backend="transformers", model="x"))


@pytest.mark.integration
def test_ask_answers_from_the_documents_with_sources(tmp_path: Path) -> None:
    runner = CliRunner()
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    db = str(tmp_path / "db")
    assert runner.invoke(app, ["ingest", str(docs), "--db", db, "--json"]).exit_code == 0
    result = runner.invoke(app, ["ask", "Which batteries does the outdoor sensor need?", "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["answer"].strip()
    assert [s["id"] for s in data["sources"]] == list(range(1, len(data["sources"]) + 1))
    assert any("AA lithium" in s["text"] for s in data["sources"])
    assert set(data["sources"][0]) == {"id", "source", "page", "score", "text"}

    streamed = runner.invoke(app, ["ask", "Which batteries does the outdoor sensor need?", "--db", db],
                             env={"COLUMNS": "200"})
    assert streamed.exit_code == 0, streamed.output
    assert "Sources" in streamed.output and "nimbus-manual.md" in streamed.output


@pytest.mark.integration
def test_the_demo_chain_script_runs_as_documented() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "examples" / "rag_langchain_demo.py"
    out = subprocess.run(
        [sys.executable, str(script), str(SAMPLES), "Which batteries does the outdoor sensor need?"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "ingested 3 files into" in out
    answer = out.split("A: ", 1)[1].split("\n\nSources:", 1)[0]
    assert answer.strip()
    sources = out.split("Sources:", 1)[1]
    assert "[1] nimbus-manual.md" in sources and "AA lithium" in sources
