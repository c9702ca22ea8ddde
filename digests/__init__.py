"""Digests of the stored passages: named periods, the extractive summariser, mentions per month.

Same floor as `embeddings/`: it reads `corpus` only, and the two never import each other.
"""
