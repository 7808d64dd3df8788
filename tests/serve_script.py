"""`rag-app` with a scripted generator and an ingest that can be held: run by tests/test_two_processes.py.

The generator is :class:`tests.server_support.ScriptedChat` (no model file is loaded). When the process ingests a
file whose name contains "held", it touches the file named by $RAG_TEST_STARTED before reading it and waits until
the file named by $RAG_TEST_RELEASE exists: the ingest is then in progress, for as long as the test wants.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import ingest.pipeline
import rag_app.generators
from tests.server_support import ScriptedChat

_open_file = ingest.pipeline.open_file


def _held_open_file(path: Path, *args: object, **kwargs: object):  # noqa: ANN202
    if "held" in Path(path).name:
        Path(os.environ["RAG_TEST_STARTED"]).touch()
        deadline = time.monotonic() + 120
        while not Path(os.environ["RAG_TEST_RELEASE"]).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never released the ingest")
            time.sleep(0.05)
    return _open_file(path, *args, **kwargs)


ingest.pipeline.open_file = _held_open_file  # type: ignore[assignment]
rag_app.generators.build_generator = lambda settings: ScriptedChat()  # type: ignore[assignment]

if __name__ == "__main__":
    from rag_app.cli import app

    app(sys.argv[1:], prog_name="rag-app")
