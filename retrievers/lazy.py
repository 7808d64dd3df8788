"""Lazy exports for a package's ``__init__`` (PEP 562): a public name is imported when first used.

``retrievers``, ``retrievers.langchain``, ``retrievers.rerankers`` and ``finetune`` list their public names
and the module each lives in; importing the package itself then costs nothing, so a caller that needs only
the names of :mod:`retrievers.names` does not pay for torch and transformers. This module only resolves
names; what each name is, is documented where it is defined.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, modules: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose public names ``modules[m]`` live in module ``m``.

    Use in a package's ``__init__``: ``__getattr__, __dir__ = lazy_exports(__name__, {"pkg.module": ("X",)})``.
    A name, once imported, is stored on the package, so later lookups are plain attribute reads.
    """
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
