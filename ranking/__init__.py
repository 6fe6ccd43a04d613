"""Torch rankers for cart-XP."""
