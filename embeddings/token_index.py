"""Passages' contextual token vectors, kept at ingest for the support re-ranking (embeddings/support.py).

The re-ranking compares the question's token vectors with a passage's (MaxSim). Encoding a
passage's tokens at question time cost ~4.4 ms each, 2-3 per question: most of an `ask`. The
ingest encode already makes every token vector (sentence vectors are span means of them), so
each passage's first `STORED_TOKENS` text tokens are kept from that same pass, less punctuation
and stop words (`content_tokens` in embeddings/sync.py: no asked-about word is one).

Stored compressed with product quantisation (faiss.ProductQuantizer as a codec only): each
normalised token vector becomes `m` one-byte codes (48 bytes for 384 floats at m=48), decoded
and normalised again at question time; the question side stays exact (asymmetric). The codebook
is trained once the part holds `TRAIN_MIN` tokens (on a sample of them) and saved beside the segments; until then
(a small store) tokens are kept as int8 rows with a per-row scale, then coded once the codebook
exists. `m = 0` keeps int8 rows for good (about 8x the disk of m=48).

Segments, table, tombstones by removal, compaction, manifest and checksums: as the sentence
vectors (embeddings/sentence_index.py, embeddings/stored.py). Saved segments are read a
passage's rows at a time (`SegmentFile`, one pread), not memory-mapped: nothing of them stays in
the process.
"""
from __future__ import annotations

import io
import logging
import os
import weakref
from pathlib import Path

import numpy as np

from embeddings.jobs import batch_job
from embeddings.sentence_index import SentenceIndex, dequantise, quantise
from embeddings.stored import StoredManifest, atomic_write_bytes

log = logging.getLogger(__name__)

TOKENS_FILE = "tokens"  # a directory: table.npz, seg-NNNNNN.npy and codebook.npy
MANIFEST_FILE = "tokens.json"
CODEBOOK_FILE = "codebook.npy"
STORED_TOKENS = 64  # a passage's first this-many text tokens (the live encode's cap: dev figures held)
TRAIN_MIN = 16_384  # tokens held before the codebook is trained (256 centroids x 64 points each)
TRAIN_SAMPLE = 8_192  # trained on an even sample of this many (32 a centroid): 2-4 s, decoded cosine
# within 0.003 of training on 16,384 at twice the time (the first build pays it, once)
TRAIN_ITERATIONS = 6  # k-means passes per sub-quantiser: decoded token cosine 0.9283 against 0.9290 at 10 passes and 25 (bundled + synthetic tokens), in 60% of the time
PQ_BITS = 8


class Codebook:
    """Product quantiser centroids (m, 256, dim / m): faiss codes, numpy decodes (a gather)."""

    def __init__(self, centroids: np.ndarray):
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.m, self.k, self.dsub = self.centroids.shape
        self._pq = None
        self._flat: np.ndarray | None = None
        self._offsets: np.ndarray | None = None

    @classmethod
    def train(cls, vectors: np.ndarray, m: int) -> "Codebook":
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        if dim % m:
            raise ValueError(f"token_codes={m} must divide the model's dimension {dim}")
        if vectors.shape[0] > TRAIN_SAMPLE:
            vectors = vectors[np.linspace(0, vectors.shape[0] - 1, TRAIN_SAMPLE).astype(np.int64)]
        pq = faiss.ProductQuantizer(dim, m, PQ_BITS)
        pq.cp.niter = TRAIN_ITERATIONS
        pq.cp.min_points_per_centroid = 1  # 32 a centroid is enough here: no warning line per sub-quantiser
        with batch_job():  # every core; inside an ingest it is that ingest's own job
            pq.train(vectors)
        centroids = faiss.vector_to_array(pq.centroids).reshape(m, 1 << PQ_BITS, dim // m)
        log.info("trained a %d x %d token codebook on %d token vectors", m, 1 << PQ_BITS, vectors.shape[0])
        pq.sync_transposed_centroids()  # the same codes, ~20% sooner (faiss's transposed path)
        book = cls(centroids)
        book._pq = pq
        return book

    def _quantiser(self):
        if self._pq is None:
            import faiss

            pq = faiss.ProductQuantizer(self.m * self.dsub, self.m, PQ_BITS)
            faiss.copy_array_to_vector(self.centroids.reshape(-1), pq.centroids)
            pq.sync_transposed_centroids()
            self._pq = pq
        return self._pq

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """(n, dim) floats -> (n, m) uint8 codes."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not vectors.shape[0]:
            return np.zeros((0, self.m), dtype=np.uint8)
        if vectors.shape[0] < 1024:  # one new article: no thread start-up
            return self._quantiser().compute_codes(vectors)
        with batch_job():  # ingest batches (~30 us a token on one core): every core, as the ingest around it
            return self._quantiser().compute_codes(vectors)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(n, m) codes -> (n, dim) float32, each sub-vector its centroid."""
        codes = np.asarray(codes)
        if self._flat is None:  # one take over a flat table: a third of the 2-D fancy index's time
            self._flat = self.centroids.reshape(self.m * self.k, self.dsub)
            self._offsets = np.arange(self.m, dtype=np.intp) * self.k
        parts = np.take(self._flat, codes.astype(np.intp) + self._offsets, axis=0)  # (n, m, dsub)
        return parts.reshape(codes.shape[0], self.m * self.dsub)


class SegmentFile:
    """A saved segment read a passage's rows at a time (one pread), never memory-mapped: a mapping
    keeps every page a question touched (and the kernel's fault-around neighbours) resident, which
    after a few hundred questions was 100 MB of RSS at 100k passages for three passages a question."""

    def __init__(self, path: Path):
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(fh)
            self.offset = fh.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path.name} is not a row-major matrix")
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)
        self._row_bytes = shape[1] * self.dtype.itemsize
        # Open for as long as a snapshot holds it, as a memory map would be: a later save may
        # compact and delete the file while questions still read this snapshot.
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        n = max(0, stop - start)
        data = os.pread(self._fd, n * self._row_bytes, self.offset + start * self._row_bytes)
        if len(data) != n * self._row_bytes:
            raise OSError(f"{self.path.name} is shorter than its header says")
        return np.frombuffer(data, dtype=self.dtype).reshape(n, self.shape[1])


class TokenIndex(SentenceIndex):
    """passage id -> (tokens, dim) matrix of its first text tokens' contextual vectors, normalised."""

    LABEL = "the token vectors"
    FORMAT = "tokens-pq/v2"  # v2: punctuation and stop-word tokens left out
    MANIFEST = MANIFEST_FILE

    def __init__(self, path: Path, *, model: str, embed_format: str, codes: int = 64,
                 max_tokens: int = STORED_TOKENS):
        super().__init__(path, model=model, embed_format=embed_format)
        self.codes = codes
        self.max_tokens = max_tokens
        self.codebook: Codebook | None = None
        self._book_unsaved = False
        self._untrainable = False  # `codes` does not divide the model's width: int8 rows for good

    def build_params(self) -> dict:
        return {**super().build_params(), "codes": self.codes, "max_tokens": self.max_tokens}

    # -- coding ------------------------------------------------------------------------

    def _pack(self, mats: list[np.ndarray]) -> list[np.ndarray]:
        """PQ codes once the codebook exists, int8 rows before (and for `codes = 0`)."""
        mats = [np.asarray(m, dtype=np.float32)[: self.max_tokens] for m in mats]
        if self.codebook is None:
            return [quantise(m) for m in mats]
        codes = self.codebook.encode(np.concatenate(mats))
        return np.split(codes, np.cumsum([m.shape[0] for m in mats])[:-1])

    def _unpack(self, block: np.ndarray) -> np.ndarray:
        vecs = dequantise(block) if block.dtype == np.int8 else self.codebook.decode(block)
        vecs = np.asarray(vecs, dtype=np.float32)
        return vecs / np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)

    def add(self, vectors: dict[int, np.ndarray]) -> None:
        """As the sentence vectors; a passage with no text token inside the model's window (a heading
        past it) gets one zero row (support 0), so that it is not taken for missing on every sync."""
        vectors = {int(k): (v if v is not None and len(v) else np.zeros((1, self._dim(vectors)), np.float32))
                   for k, v in vectors.items()}
        super().add(vectors)
        if self.codebook is None and self.codes and not self._untrainable \
                and self._held_tokens() >= max(TRAIN_MIN, 1 << PQ_BITS):
            self._train()

    @staticmethod
    def _dim(vectors: dict[int, np.ndarray]) -> int:
        return next((v.shape[-1] for v in vectors.values() if v is not None and v.ndim == 2 and v.shape[-1]), 1)

    def _held_tokens(self) -> int:
        return int(self._count.sum())

    def _train(self) -> None:
        """Train the codebook on every token held (int8 rows, decoded) and code them all."""
        held = np.concatenate([self.get(int(i)) for i in self._ids])
        if held.shape[1] % self.codes:  # the setting's rule allows only divisors of 384; another model's width
            log.warning("token_codes=%d does not divide the model's %d dimensions: token vectors stay int8 rows",
                        self.codes, held.shape[1])
            self._untrainable = True
            return
        self.codebook = Codebook.train(held, self.codes)
        self._book_unsaved = True
        self.compact()

    def compact(self) -> None:
        if self.codebook is not None and any(m.dtype == np.int8 for m in self._segments.values()):
            # int8 rows from before the codebook: coded now (one dtype per compacted segment)
            vectors = {int(i): self.get(int(i)) for i in self._ids}
            self._install(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int32))
            SentenceIndex.add(self, vectors)
            return
        super().compact()

    def sync(self, *args, **kwargs):
        raise NotImplementedError("token vectors come from the ingest pass (embeddings/sync.py)")

    # -- persistence -------------------------------------------------------------------

    def _open_segment(self, path: Path) -> SegmentFile:
        return SegmentFile(path)

    def write_data(self) -> list[Path]:
        paths = super().write_data()
        if self.codebook is None:
            return paths
        book = self.path / CODEBOOK_FILE
        if self._book_unsaved or not book.exists():
            buf = io.BytesIO()
            np.save(buf, self.codebook.centroids, allow_pickle=False)
            atomic_write_bytes(book, buf.getvalue())
            self._book_unsaved = False
        return [*paths, book]

    def read_data(self, manifest: StoredManifest) -> str | None:
        book = self.path / CODEBOOK_FILE
        if f"{TOKENS_FILE}/{CODEBOOK_FILE}" in manifest.files:
            centroids = np.load(book, allow_pickle=False)
            if centroids.ndim != 3 or centroids.shape[0] != self.codes:
                return "the token codebook does not match its settings"
            self.codebook = Codebook(centroids)
        reason = super().read_data(manifest)
        if reason:
            return reason
        if any(m.dtype == np.uint8 for m in self._segments.values()) and self.codebook is None:
            return "the token vectors are coded but their codebook is missing"
        return None
