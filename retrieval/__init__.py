"""Candidate generation: market-basket analysis, PT associations, embeddings."""
