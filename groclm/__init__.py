"""GroCLM (grocery category recommendation with rebuying cycles): next-basket and in-basket product-category
tasks on Complete Journey, rebuying statistics, baselines, the category trie for constrained decoding, and
their evaluation. See docs/groclm.md."""
