"""The ``rag-app`` command and the demonstration it runs."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rag_app.cli import app
from rag_app.demo import QUESTIONS, run_demo
from retrievers import resolve_model

runner = CliRunner()


def test_models_lists_the_bundled_aliases() -> None:
    result = runner.invoke(app, ["models"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "minilm" in result.output and "smollm2" in result.output
    assert str(resolve_model("minilm").path) in result.output


def test_demo_rejects_an_unknown_reranker() -> None:
    result = runner.invoke(app, ["demo", "--reranker", "bogus"], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert "colbert, llm, none" in result.output


@pytest.mark.integration
def test_demo_finds_the_right_section_for_each_question() -> None:
    answers = run_demo(console=Console(file=io.StringIO()), reranker="colbert", top_n=2)
    assert len(answers) == len(QUESTIONS)
    top_headings = [docs[0].metadata["heading"] for docs in answers]
    assert top_headings[0].endswith("Factory reset")
    assert top_headings[1].endswith("Batteries")
    assert top_headings[2].endswith("Update interval")
    assert all(docs[0].metadata["relevance_score"] >= docs[1].metadata["relevance_score"] for docs in answers)
