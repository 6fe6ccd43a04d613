"""Data layer: the real grocery dataset, normalized into a run-directory store."""
