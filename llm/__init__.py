"""LLM client layer: providers, structured output, retries, usage accounting."""
