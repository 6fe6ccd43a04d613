"""Graph-test fixtures live in tests/conftest.py (the indexed real slice is shared with batch and index tests)."""
