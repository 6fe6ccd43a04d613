"""Agents of the item-XP pipeline (context, recommendation, naive generator, contextual evaluator). Filled by the item-XP graph issue."""
