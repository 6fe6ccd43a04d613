"""Content-addressed cache for LLM responses and embeddings. Filled by the LLM-layer issue."""
