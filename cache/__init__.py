"""Content-addressed on-disk cache for LLM responses (code only: data lives in the run directory)."""

from xpollinate.cache.keys import response_key
from xpollinate.cache.responses import CacheStats, ResponseCache, cache_dir

__all__ = ["CacheStats", "ResponseCache", "cache_dir", "response_key"]
