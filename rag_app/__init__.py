"""The application: configuration, the question-answering chain, generators, the ``rag-app`` CLI and server."""
