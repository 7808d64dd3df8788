"""``rag-app serve``: the HTTP API, the OpenAI-compatible chat endpoint and the web page.

Build a server around ready parts with :func:`create_app` (``RagService(store, ingestor, llm, ...)``), or from
settings with ``create_app(RagService.from_settings(settings), settings)``. See :mod:`rag_app.server.app`.
"""

from rag_app.server.app import create_app
from rag_app.server.security import UnsafeBindError, api_token, check_bind
from rag_app.server.service import RagService

__all__ = ["RagService", "UnsafeBindError", "api_token", "check_bind", "create_app"]
