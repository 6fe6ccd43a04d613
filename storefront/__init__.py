"""The personal storefront: a household -> candidates -> re-ranking -> a page of themed placements."""
