"""`rag-app ingest`, `sources` and `remove` end to end on the sample documents with the bundled MiniLM."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag_app.cli import app

pytestmark = pytest.mark.integration
SAMPLES = Path(__file__).resolve().parent.parent / "rag_app" / "sample_data"
runner = CliRunner()


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    return result.exit_code, result.stdout


def test_ingest_sources_remove(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    db = str(tmp_path / "db")
    code, out = _run("ingest", str(docs), "--db", db, "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["files_ingested"] == 4 and first["files_failed"] == []
    assert first["chunks_added"] == first["chunks_total"] > 3

    (docs / "empty.txt").write_bytes(b"")
    code, out = _run("ingest", str(docs), "--db", db, "--json")
    assert code == 2
    second = json.loads(out)
    assert second["files_unchanged"] == 4 and second["chunks_added"] == 0
    assert second["files_failed"] == [{"source": "empty.txt", "error": "empty file", "kept_previous": False}]

    code, out = _run("sources", "--db", db, "--json")
    listed = json.loads(out)
    assert [row["source"] for row in listed] == ["nimbus-accessories.html", "nimbus-manual.md",
                                                 "nimbus-service-notes.pdf", "nimbus-warranty.txt"]
    assert sum(row["chunks"] for row in listed) == first["chunks_total"]

    code, out = _run("remove", "nimbus-warranty.txt", "--db", db)
    assert code == 0 and "Removed" in out
    code, out = _run("remove", "nimbus-warranty.txt", "--db", db)
    assert code == 1 and "No chunks" in out
    code, out = _run("ingest", str(docs), "--db", db, "--glob", "*.md", "--glob", "*.html", "--prune")
    assert code == 0, out
    code, out = _run("sources", "--db", db, "--json")
    assert [row["source"] for row in json.loads(out)] == ["nimbus-accessories.html", "nimbus-manual.md"]


def test_settings_come_from_the_config_file_and_bad_ones_exit_2(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    config = tmp_path / "prod.toml"
    config.write_text(f'[index]\ndb = "{tmp_path / "db"}"\ncollection = "manuals"\n[ingest]\nchunk_size = 120\nchunk_overlap = 20\n')
    code, out = _run("--config", str(config), "ingest", str(docs / "nimbus-manual.md"), "--json")
    assert code == 0, out
    code, out = _run("--config", str(config), "sources", "--json")
    assert json.loads(out) == [{"source": "nimbus-manual.md", "chunks": json.loads(out)[0]["chunks"]}]
    # The command-line option wins over the file: there is no default collection, and reading creates none.
    result = runner.invoke(app, ["--config", str(config), "sources", "--collection", "documents", "--json"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert f"no collection 'documents' in Chroma db {tmp_path / 'db'}" in " ".join(result.output.split())
    code, out = _run("--config", str(config), "sources", "--json")
    assert [row["source"] for row in json.loads(out)] == ["nimbus-manual.md"]

    config.write_text('[retrieval]\nmode = "sparse"\n')
    result = runner.invoke(app, ["--config", str(config), "sources"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "retrieval.mode: must be one of 'dense' or 'hybrid'; got 'sparse'" in result.output


def test_retrieve_one_question_and_a_queries_file(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    db = str(tmp_path / "db")
    code, out = _run("retrieve", "How do I reset the station?", "--db", db, "--json")
    assert code == 1  # nothing ingested yet
    assert _run("ingest", str(docs), "--db", db, "--json")[0] == 0

    # Without the threshold, to see a second passage.
    code, out = _run("retrieve", "How do I reset the station to factory settings?", "--db", db, "--top-n", "2",
                     "--json", env={"RAG_APP_RETRIEVAL__MIN_SCORE": "-inf"})
    assert code == 0, out
    record = json.loads(out)
    assert record["query"] == "How do I reset the station to factory settings?"
    assert len(record["results"]) == 2
    best = record["results"][0]
    assert best["source"] == "nimbus-manual.md" and "factory settings" in best["text"]
    assert record["results"][0]["score"] >= record["results"][1]["score"]

    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "query": "Which batteries does the outdoor sensor need?"}\n'
                       '{"id": "b", "query": "How long is the warranty?"}\n')
    result = runner.invoke(app, ["retrieve", "--queries", str(queries), "--db", db, "--k", "1", "--json"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--k is deprecated" in result.stderr and "use --top-n 1" in result.stderr  # the old spelling still works
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [len(line["results"]) for line in lines] == [1, 1]
    assert [line["id"] for line in lines] == ["a", "b"]
    assert "AA lithium" in lines[0]["results"][0]["text"]
    assert lines[1]["results"][0]["source"] == "nimbus-warranty.txt"

    queries.write_text('{"id": "a", "question": "typo in the key"}\n')
    result = runner.invoke(app, ["retrieve", "--queries", str(queries), "--db", db, "--json"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert 'q.jsonl:1: needs a non-empty string "query"' in result.output


def test_report_names_the_files_that_need_attention_and_verbose_lists_all(tmp_path: Path) -> None:
    from tests.test_ingest_report import build_pdf_with_a_page_without_text

    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    (docs / "empty.txt").write_bytes(b"")
    build_pdf_with_a_page_without_text(docs / "boiler.pdf")
    db = str(tmp_path / "db")
    code, out = _run("ingest", str(docs), "--db", db)
    assert code == 2
    lines = out.splitlines()
    assert "Files that need attention" in out and "empty.txt" in out and "boiler.pdf" in out
    row = next(line for line in lines if "boiler.pdf" in line)
    assert "ingested" in row and "⚠ page 2: no text layer" in row
    assert "failed" in next(line for line in lines if "empty.txt" in line)
    assert "4 other file(s): 4 ingested (--verbose lists every file)." in out
    totals = " ".join(out.split())
    assert "files 6 seen, 5 ingested, 0 unchanged, 1 failed, 0 pruned; chunks" in totals
    assert "0 deleted," in totals and "in the index." in totals
    assert "nimbus-manual.md" not in out  # fine files are counted, not listed
    assert f"Sources are named relative to {docs.as_posix()}." in " ".join(out.split())

    code, out = _run("ingest", str(docs), "--db", db, "--verbose")
    assert code == 2
    statuses = {name: next(line for line in out.splitlines() if name in line)
                for name in ("nimbus-manual.md", "nimbus-warranty.txt", "boiler.pdf", "empty.txt")}
    assert all("unchanged" in statuses[name] for name in ("nimbus-manual.md", "nimbus-warranty.txt", "boiler.pdf"))
    assert "failed" in statuses["empty.txt"] and "other file(s)" not in out

    # --json: the same file reached through the file alone is the same source; its warnings are in the entry.
    (docs / "boiler.pdf").unlink()
    build_pdf_with_a_page_without_text(docs / "boiler.pdf")  # rewritten: read again
    code, out = _run("ingest", str(docs / "boiler.pdf"), "--db", db, "--json")
    assert code == 0, out
    (entry,) = json.loads(out)["files"]
    assert (entry["source"], entry["status"], entry["chunks_added"], entry["chunks_deleted"], entry["error"]) == (
        "boiler.pdf", "ingested", 0, 0, None)  # same text: no chunk re-embedded
    assert len(entry["warnings"]) == 1 and entry["warnings"][0].startswith("page 2: no text layer")


def test_remove_takes_a_path_and_sources_show_the_root(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs / "manuals")
    db = str(tmp_path / "db")
    assert _run("ingest", str(docs), "--db", db, "--json")[0] == 0
    code, out = _run("sources", "--db", db)
    assert f"Sources are named relative to {docs.as_posix()}; a file outside it by its absolute path." in out
    code, out = _run("remove", str(docs / "manuals" / "nimbus-warranty.txt"), "--db", db)
    assert code == 0 and "Removed" in out and "chunks of manuals/nimbus-warranty.txt." in out
    code, out = _run("remove", "manuals/nimbus-manual.md", "--db", db)
    assert code == 0 and "chunks of manuals/nimbus-manual.md." in out
    code, out = _run("remove", str(docs / "manuals" / "nimbus-manual.md"), "--db", db)
    assert code == 1
    assert f"No chunks of {str(docs / 'manuals' / 'nimbus-manual.md')!r} in documents (the file there is named " \
           "'manuals/nimbus-manual.md')." in " ".join(out.split())
    code, out = _run("sources", "--db", db, "--json")
    assert [row["source"] for row in json.loads(out)] == ["manuals/nimbus-accessories.html",
                                                          "manuals/nimbus-service-notes.pdf"]
