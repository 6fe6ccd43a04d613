"""Agents of the item-XP pipeline (context, recommendation, naive generator, contextual evaluator)."""
