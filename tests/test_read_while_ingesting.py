"""Readers never wait for a writer: `rag-app sources` and `retrieve` answer, from other processes, while an
ingest on the same --db is stopped in the middle of a file, and they see its last committed version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD = "# Kettle\n\n" + "\n\n".join(f"Old paragraph {i}: the kettle boils water in three minutes." for i in range(3))
NEW = "# Kettle\n\n" + "\n\n".join(
    f"Zebra paragraph {i}: descale the zebra kettle with vinegar every month, then rinse it twice." for i in range(4))


def _rag_app(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """``rag-app ARGS`` in its own process; a reader that waited for the held writer would hit ``timeout``."""
    return subprocess.run([sys.executable, "-m", "rag_app.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture()
def env(tmp_path: Path, tiny_encoder_dir: Path) -> dict[str, str]:
    config = tmp_path / "rag-app.toml"
    config.write_text(f'[index]\ndb = "{tmp_path / "db"}"\n[retrieval]\nembedder = "{tiny_encoder_dir}"\nk = 20\n'
                      'top_n = 20\nmin_score = -inf\n[ingest]\nchunk_size = 24\nchunk_overlap = 4\n', encoding="utf-8")
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200",
            "PYTHONPATH": str(ROOT), "RAG_TEST_STARTED": str(tmp_path / "started"),
            "RAG_TEST_RELEASE": str(tmp_path / "release"), "RAG_APP_CONFIG_FOR_TEST": str(config)}


def test_sources_and_retrieve_answer_while_an_ingest_is_held_mid_file(tmp_path: Path, env: dict[str, str]) -> None:
    config = env["RAG_APP_CONFIG_FOR_TEST"]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(OLD, encoding="utf-8")
    (docs / "toaster.txt").write_text("The toaster has six browning levels.\n", encoding="utf-8")
    first = _rag_app("--config", config, "ingest", str(docs), "--json", env=env)
    assert first.returncode == 0, first.stderr
    before = json.loads(_rag_app("--config", config, "sources", "--json", env=env).stdout)
    old_chunks = dict((row["source"], row["chunks"]) for row in before)
    assert old_chunks["kettle.md"] >= 1 and old_chunks["toaster.txt"] >= 1

    (docs / "kettle.md").write_text(NEW, encoding="utf-8")
    writer = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "slow_ingest_script.py"), "--config", config, "ingest", str(docs), "--json"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = Path(env["RAG_TEST_STARTED"])
        deadline = time.monotonic() + 90
        while not started.exists():
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline, "the writer never reached the middle of the file"
            time.sleep(0.05)

        clock = time.monotonic()
        listed = _rag_app("--config", config, "sources", "--json", env=env)
        retrieved = _rag_app("--config", config, "retrieve", "zebra kettle descale vinegar", "--json", env=env)
        elapsed = time.monotonic() - clock
        assert writer.poll() is None  # the writer is still held: both readers answered beside it
        assert listed.returncode == 0 and retrieved.returncode == 0, listed.stderr + retrieved.stderr
        assert json.loads(listed.stdout) == before  # the last committed state, not the half-written file
        texts = [r["text"] for r in json.loads(retrieved.stdout)["results"]]
        assert len(texts) == sum(old_chunks.values())
        assert not any("Zebra" in text or "zebra" in text for text in texts)  # none of the new chunks written so far
        assert elapsed < 60
    finally:
        Path(env["RAG_TEST_RELEASE"]).touch()
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert json.loads(out)["files_ingested"] == 1
    after = dict((row["source"], row["chunks"])
                 for row in json.loads(_rag_app("--config", config, "sources", "--json", env=env).stdout))
    assert after["toaster.txt"] == old_chunks["toaster.txt"] and after["kettle.md"] > 2  # the new version, whole
    results = json.loads(_rag_app("--config", config, "retrieve", "zebra", "--json", env=env).stdout)["results"]
    kettle = [r["text"] for r in results if r["source"] == "kettle.md"]
    old_words = {"Old", "boils", "water", "three", "minutes"}  # in every old chunk, in no new one
    assert kettle and not any(old_words & set(text.replace(".", " ").split()) for text in kettle)
