"""LangGraph StateGraph builders and typed states."""
