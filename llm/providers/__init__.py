"""Model backends: llama.cpp in process (`local`), OpenAI-compatible HTTP, Anthropic."""
