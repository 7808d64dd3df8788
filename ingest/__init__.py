"""Documents into Chroma: loaders, cleaning, chunking and incremental indexing (see the ingest issue)."""
