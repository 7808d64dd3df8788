"""``rag-app serve``: the HTTP API, the OpenAI-compatible chat endpoint and the web page.

Build a server around a pipeline with ``create_app(build_pipeline(settings), settings)``
(:func:`rag_app.pipeline.build_pipeline`). See :mod:`rag_app.server.app`.
"""

from rag_app.server.app import create_app
from rag_app.server.security import UnsafeBindError, api_token, check_bind

__all__ = ["UnsafeBindError", "api_token", "check_bind", "create_app"]
