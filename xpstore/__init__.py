"""The item-XP store: ranked GM recommendations per anchor, with scores and provenance."""
