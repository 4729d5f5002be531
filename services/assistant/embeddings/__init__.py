"""Sentence embeddings, a service of the mesh (EmbeddingService): an engine interface with the
packaged multilingual-e5-small behind it (`e5`), a bounded LRU of vectors (`cache`), the batcher
that coalesces concurrent calls into one engine call off the event loop (`batcher`), the
per-call limits (`limits`), the whole path from texts to vectors (`embedder`), and OpenAI's
`/v1/embeddings` JSON (`openai_wire`)."""
