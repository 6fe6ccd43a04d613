"""The `xp` command line."""
