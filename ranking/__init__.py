"""Torch rankers for cart-XP. Filled by the cart-ranker issue."""
