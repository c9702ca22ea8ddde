"""Passages to vectors to ranked answers: encoder, FAISS index, retrieval. Knows nothing of Discord."""
