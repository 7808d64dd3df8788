"""Who may call the API: loopback by default; anything wider only behind a bearer token.

- :func:`api_token` reads the token: ``RAG_APP_API_TOKEN``, else ``server.api_token`` (``rag-app.toml`` or
  ``RAG_APP_SERVER__API_TOKEN``).
- :func:`check_bind` refuses a non-loopback address without a token (:class:`UnsafeBindError`, whose message
  says how to set one), and a token shorter than :data:`MIN_TOKEN_LENGTH`.
- :class:`TokenGate` (ASGI middleware) guards every API route but the health check: with a token set, a
  request needs ``Authorization: Bearer <token>``, compared in constant time (:func:`secrets.compare_digest`),
  and is refused before its body is read; without a token, everything is open (loopback only).
- :func:`is_loopback` is :func:`rag_app.net.is_loopback` (defined there, once, for the generators too).
"""

from __future__ import annotations

import os
import secrets

from fastapi.security import HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from rag_app.config import Settings
from rag_app.net import is_loopback
from rag_app.server.errors import error_response

__all__ = [
    "MIN_TOKEN_LENGTH", "TOKEN_ENV", "TokenGate", "UnsafeBindError", "api_token", "authorization_error",
    "bearer_scheme", "check_bind", "is_loopback",
]

TOKEN_ENV = "RAG_APP_API_TOKEN"
MIN_TOKEN_LENGTH = 16
bearer_scheme = HTTPBearer(auto_error=False, description=f"The server's token ({TOKEN_ENV} or server.api_token).")
"""Declares the bearer scheme in the OpenAPI schema (routers depend on it); :class:`TokenGate` enforces it."""


class UnsafeBindError(RuntimeError):
    """The server would listen beyond this machine without a token (or with a weak one)."""


def api_token(settings: Settings) -> str | None:
    """The bearer token: ``RAG_APP_API_TOKEN``, else ``server.api_token``; ``None`` when neither is set."""
    token = os.environ.get(TOKEN_ENV) or (
        settings.server.api_token.get_secret_value() if settings.server.api_token else None
    )
    return token or None


def check_bind(host: str, token: str | None) -> None:
    """Raise :class:`UnsafeBindError` when ``host`` is not loopback and there is no token, or the token is weak."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise UnsafeBindError(
            f"The API token is {len(token)} characters long; use at least {MIN_TOKEN_LENGTH}, e.g. "
            f"export {TOKEN_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if token is None and not is_loopback(host):
        raise UnsafeBindError(
            f"Refusing to listen on {host}: that makes the API reachable from other machines, so it needs a "
            f"bearer token. Set one with\n  export {TOKEN_ENV}=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')\nor `api_token` under [server] in rag-app.toml, and send "
            "`Authorization: Bearer <token>` with each request. Or listen on 127.0.0.1 (the default)."
        )


def authorization_error(header: str | None, token: str) -> str | None:
    """Why the ``Authorization`` header does not carry ``token`` (``None`` when it does); constant-time compare."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        reason = "missing bearer token"
    elif secrets.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        return None
    else:
        reason = "wrong bearer token"
    return (f"Unauthorized: {reason}. Send the header 'Authorization: Bearer <token>' with the server's token "
            f"({TOKEN_ENV} or server.api_token).")


class TokenGate:
    """Pure ASGI middleware: with a token, a request to a protected path (``/api/...`` but ``/api/health``,
    ``/v1/...``) without it gets 401 before its body is read (an upload is refused before it is spooled)."""

    def __init__(self, app: ASGIApp, *, token: str | None, protected: tuple[str, ...] = ("/api/", "/v1/"),
                 open_paths: tuple[str, ...] = ("/api/health",)) -> None:
        self.app = app
        self.token = token
        self.protected = protected
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] == "http" and self.token and path.startswith(self.protected)
                and path not in self.open_paths):
            header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
            error = authorization_error(header, self.token)
            if error is not None:
                response = error_response(path, 401, error, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
