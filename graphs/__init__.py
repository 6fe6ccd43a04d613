"""LangGraph StateGraph builders and typed states. Filled by the item-XP graph issue."""
