"""LangChain's own standard test suites (the ``langchain-tests`` package), run on our wrappers.

The suites' async tests are plain ``async def`` methods; the project runs pytest-asyncio in strict mode, so
the classes carry the ``asyncio`` mark, and the warning it raises on the suites' sync tests is filtered.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from retrievers.langchain import HybridRetriever, LangchainEmbedding

_ASYNC_SUITE = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:.*is marked with '@pytest.mark.asyncio' but it is not an async function"),
]


class TestLangchainEmbeddingStandardUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[LangchainEmbedding]:
        return LangchainEmbedding

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_name_or_path": "minilm"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        # LangchainEmbedding reads no environment variable of its own (a local model needs no API key); the
        # environment that matters is the offline hub, under which the bundled model must still load.
        return {"HF_HUB_OFFLINE": "1"}, {"model_name_or_path": "minilm"}, {"model_name_or_path": "minilm"}


@pytest.mark.integration
class TestLangchainEmbeddingStandardIntegration(EmbeddingsIntegrationTests):
    pytestmark = _ASYNC_SUITE

    @property
    def embeddings_class(self) -> type[LangchainEmbedding]:
        return LangchainEmbedding

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_name_or_path": "minilm"}


_DOCUMENTS = [
    "Reset the router by holding the button for ten seconds.",
    "Error ZX81 means the firmware image is corrupt.",
    "If the network drops, restart your wireless access point.",
    "Cats sleep for most of the day.",
    "The warranty covers hardware faults for two years.",
]


class TestHybridRetrieverStandard(RetrieversIntegrationTests):
    """The retriever suite with a fake embedding in memory: it checks the LangChain contract (``k`` in the
    constructor and in ``invoke``, documents out, async), not retrieval quality."""

    pytestmark = _ASYNC_SUITE

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        documents = [
            Document(page_content=t, metadata={"source": f"doc{i}.md"}, id=str(i)) for i, t in enumerate(_DOCUMENTS)
        ]
        store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
        store.add_documents(documents)
        return {"vectorstore": store, "documents": documents, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "what does error ZX81 mean?"


@pytest.mark.integration
class TestHybridRetrieverChromaStandard(RetrieversIntegrationTests):
    """The retriever suite on the real stack: Chroma (in memory) with the bundled minilm embedder."""

    pytestmark = _ASYNC_SUITE

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        from langchain_chroma import Chroma

        documents = [Document(page_content=t, metadata={"source": f"doc{i}.md"}) for i, t in enumerate(_DOCUMENTS)]
        # A fresh collection each time: the in-memory Chroma client is shared within the process.
        store = Chroma(collection_name=f"standard-{uuid.uuid4().hex}", embedding_function=_minilm())
        store.add_documents(documents)
        return {"vectorstore": store, "documents": documents, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "how do I reboot my modem?"


_MINILM: list[LangchainEmbedding] = []


def _minilm() -> LangchainEmbedding:
    """One minilm for every Chroma store of the suite (the suite builds a retriever per test)."""
    if not _MINILM:
        _MINILM.append(LangchainEmbedding("minilm"))
    return _MINILM[0]
