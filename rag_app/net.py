"""Whether an address stays on this machine: one loopback check for the server and the generators.

- :func:`is_loopback` takes a host as a user writes it (``127.0.0.1``, ``::1``, ``[::1]``, ``localhost``):
  the server's bind check (:func:`rag_app.server.security.check_bind`) uses it.
- :func:`url_is_loopback` takes a URL (``http://[::1]:8000/v1``): the ``openai`` generator uses it to decide
  whether an endpoint may go without an API key.

What this module does not do: resolve names. A host name other than ``localhost`` may point at any
interface, so it is not loopback; nothing here touches the network. Depends on the standard library only,
so any package may import it.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["LOOPBACK_NAMES", "is_loopback", "url_is_loopback"]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})
"""Host names that mean this machine without asking a resolver."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine (``127.0.0.0/8``, ``::1``, ``localhost``).

    IPv6 addresses may be written in brackets (``[::1]``); case and surrounding spaces do not matter.
    Anything else (a host name, an empty string, an unclosed bracket, a ``host:port``) is not loopback.
    """
    host = host.strip().lower()
    if host in LOOPBACK_NAMES:
        return True
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def url_is_loopback(url: str) -> bool:
    """Whether the host of ``url`` is loopback (:func:`is_loopback`); ``False`` for a URL that does not parse."""
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. an unclosed "[" in the host
        return False
    return is_loopback(host or "")
