"""LLM-as-judge, cross-encoder and combined score."""
