"""xpollinate: cross-category grocery -> general merchandise recommendations."""

__version__ = "0.1.0"
