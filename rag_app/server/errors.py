"""The JSON of an error: ``{"detail": ...}`` on ``/api``, OpenAI's ``{"error": {...}}`` on ``/v1``."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["error_response"]


def error_response(path: str, status: int, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    """An error for a request to ``path``, in the shape its clients expect."""
    if path.startswith("/v1/"):
        kind = "invalid_request_error" if status < 500 else "server_error"
        body: dict[str, Any] = {"error": {"message": message, "type": kind, "param": None, "code": status}}
    else:
        body = {"detail": message, **extra}
    return JSONResponse(body, status_code=status, headers=headers)
