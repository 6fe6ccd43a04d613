"""LLM-as-judge, cross-encoder and combined score. Filled by the item-XP graph issue."""
