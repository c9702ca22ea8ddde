"""Sentence vectors from a passage's token embeddings: the mean over each sentence's tokens.

Shared by both encoder backends (embeddings/encoder.py, embeddings/onnx_encoder.py), so one
forward pass over a passage gives its vector and its sentences' (embeddings/sync.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def span_vectors(tokens: np.ndarray, offsets: list[tuple[int, int]],
                 spans: list[tuple[int, int]]) -> list[np.ndarray | None]:
    """Mean of the token embeddings whose characters start inside each span, normalised.

    `offsets` are the tokenizer's (start, end) characters per token; special tokens are (0, 0).
    """
    offs = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    real = offs[:, 1] > offs[:, 0]
    starts = np.where(real, offs[:, 0], -1)
    out: list[np.ndarray | None] = []
    for a, b in spans:
        rows = np.flatnonzero((starts >= a) & (starts < b))
        if rows.size == 0:
            out.append(None)
            continue
        v = tokens[rows].mean(axis=0)
        norm = float(np.linalg.norm(v))
        out.append((v / norm).astype(np.float32) if norm > 0 else None)
    return out


def cut_after(text: str, offsets: list[tuple[int, int]], max_tokens: int | None) -> str:
    """`text` up to the end of its `max_tokens`-th token (`offsets`: its tokens' characters, no
    special tokens); whole when shorter or no limit. Encoding time grows with the tokens run."""
    if not max_tokens or len(offsets) <= max_tokens:
        return text
    return text[: offsets[max_tokens - 1][1]]


@dataclass(frozen=True)
class TokenVectors:
    """One text's contextual token vectors (rows normalised) and each token's (start, end)
    characters in that text; special and prompt tokens left out."""

    vectors: np.ndarray
    offsets: list[tuple[int, int]]


def token_vectors(tokens: np.ndarray, offsets, *, start: int = 0, shift: int = 0,
                  limit: int | None = None) -> TokenVectors:
    """Keep the real tokens (end > start) from character `start` on (after a prompt), the first
    `limit` of them if given, their offsets moved by `shift` into the caller's text, normalised
    row by row."""
    keep, spans = [], []
    for n, (a, b) in enumerate(offsets):
        if b > a and a >= start:
            keep.append(n)
            spans.append((int(a + shift), int(b + shift)))
    if limit:
        keep, spans = keep[:limit], spans[:limit]
    vecs = np.asarray(tokens, dtype=np.float32)[keep] if keep else np.zeros((0, tokens.shape[-1]), np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return TokenVectors((vecs / np.clip(norms, 1e-12, None)).astype(np.float32), spans)
