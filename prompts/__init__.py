"""Versioned prompt templates and their registry. Filled by the LLM-layer issue."""
