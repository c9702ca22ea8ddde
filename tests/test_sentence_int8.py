"""Sentence vectors stored as int8 codes with a per-row scale (half of float16's disk): the real
model's sentence vectors survive the round trip, the best sentence is the same, and segments
written as float16 before still read."""
from __future__ import annotations

import numpy as np

import embeddings.sentence_index as si
from corpus.text import split_sentences
from embeddings.sentence_index import SentenceIndex, dequantise, quantise
from sample_articles import P1, P2, P3


def test_real_sentence_vectors_survive_int8_and_pick_the_same_sentence(encoder):
    sents = [s for p in (P1, P2, P3) for s in split_sentences(p)]
    vecs = encoder.encode_queries(sents).astype(np.float32)
    packed = quantise(vecs)
    assert packed.dtype == np.int8 and packed.shape == (len(sents), encoder.dim + si.SCALE_BYTES)
    back = dequantise(packed)
    cos = (back * vecs).sum(axis=1) / np.linalg.norm(back, axis=1)
    assert cos.min() >= 0.999
    for n, sentence in enumerate(sents):
        q = encoder.encode_query(sentence)[0]
        assert int(np.argmax(back @ q)) == int(np.argmax(vecs @ q)) == n


def test_int8_segments_save_load_and_float16_segments_still_read(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    vecs = rng.standard_normal((9, 24)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    monkeypatch.setattr(si, "quantise", lambda m: np.asarray(m, dtype=np.float16))  # as written before int8
    old = SentenceIndex(tmp_path / "sentences", model="m", embed_format="f")
    old.add({1: vecs[:3], 2: vecs[3:4]})
    old.save()
    monkeypatch.undo()
    part, reason = SentenceIndex.load(tmp_path / "sentences", model="m", embed_format="f")
    assert reason is None and part.get(1).dtype == np.float16
    part.add({3: vecs[4:9]})
    part.save()
    again, reason = SentenceIndex.load(tmp_path / "sentences", model="m", embed_format="f")
    assert reason is None and len(again) == 3
    np.testing.assert_allclose(np.asarray(again.get(1), np.float32), vecs[:3], atol=2e-3)
    np.testing.assert_allclose(again.get(3), vecs[4:9], atol=1 / 127)
    assert again._segments[2].dtype == np.int8 and again._segments[2].nbytes == 5 * (24 + si.SCALE_BYTES)
    again.compact()  # everything into one int8 segment
    assert {m.dtype for m in again._segments.values()} == {np.dtype(np.int8)}
    np.testing.assert_allclose(again.get(2), vecs[3:4], atol=1 / 127 + 2e-3)
