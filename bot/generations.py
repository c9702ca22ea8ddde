"""Index generations: what a question is answered from, and how writers make the next one.

A `Snapshot` holds one complete set of derived indexes (dense vectors, keyword index, sentence
vectors) and is never changed once published. The service swaps the current snapshot under a
tiny lock; questions take it and search it without any other lock, so an ingest, a sync or a
rebuild (which work on clones and publish a new snapshot at the end) never makes them wait.

The indexes on disk are loaded through embeddings/stored.py (checksummed; any failure is a reason,
and the part is rebuilt from the store). The parts' files are replaced atomically, data first
and manifest last, so a reader in another process that looks in between sees a checksum
mismatch: `load_part` looks again a few times before it calls that damage.
"""
from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from embeddings.days import DayTable
from embeddings.sentence_index import SentenceIndex
from embeddings.sparse import SparseIndex
from embeddings.index import VectorIndex
from embeddings.token_index import TokenIndex

log = logging.getLogger(__name__)

TORN_RETRIES = 2  # looks at a part whose files disagree with its manifest before calling it damaged
TORN_WAIT_S = 0.1


@dataclass(frozen=True)
class Snapshot:
    """One complete generation of the derived indexes, answered from without locks."""

    index: VectorIndex
    sparse: SparseIndex
    sentences: SentenceIndex
    dates: tuple[date | None, date | None] = (None, None)
    days: DayTable | None = None  # publication days as arrays: date bounds become masks
    generation: int = -1  # the store generation it was brought in step with (-1: loaded, not synced)
    seq: int = -1  # the store's change-feed number it holds every change up to (-1: unknown)
    # A store generation at which the store held every passage the indexes hold (-1: unknown): while the
    # store is still at it, a question need fetch only the passages it looks at (embeddings/search.py).
    held: int = -1
    pending: int = 0  # store passages not in it yet (a crashed or running ingest)
    stamp: tuple = field(default=(), compare=False)  # the manifests it matches on disk
    tokens: TokenIndex | None = None  # passages' token vectors (None: the encoder gives none at ingest)

    def clone(self) -> "Snapshot":
        """Working copies a writer may change while readers keep searching this one."""
        return replace(self, index=clone_part(self.index), sparse=clone_part(self.sparse),
                       sentences=clone_part(self.sentences),
                       tokens=clone_part(self.tokens) if self.tokens is not None else None)


def clone_part(part):
    """A copy that later changes to it leave `part` untouched. Each part says how (`clone`): the
    dense index shares its big main FAISS index and copies only its small delta, the sentence
    vectors copy their table's dicts, the keyword index replaces its model whole on each build."""
    own = getattr(part, "clone", None)
    return own() if callable(own) else copy.copy(part)


def manifest_stamp(paths: list[Path]) -> tuple:
    """What the manifests on disk look like now: another process saved if this changes."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((p.name, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((p.name, None, None))
    return tuple(out)


def load_part(cls, *args, **kwargs):
    """`cls.load(...)`, looking again briefly when the files disagree with the manifest: a save
    by another process replaces the data file a moment before the manifest."""
    part, reason = cls.load(*args, **kwargs)
    for _ in range(TORN_RETRIES):
        if not reason or "manifest" not in reason:
            break
        time.sleep(TORN_WAIT_S)
        part, reason = cls.load(*args, **kwargs)
    return part, reason


def align_companions(snap: Snapshot, fetch_texts) -> Snapshot:
    """Keyword index and sentence vectors cut to the dense index's passages, in memory only.

    Used when a snapshot is loaded to answer from, not to write: nothing is embedded. The
    keyword index is rebuilt from stored text if it holds other passages (cheap, no model);
    sentence vectors of passages not in the dense index are dropped (missing ones are encoded
    per hit at question time, a rare fallback).
    """
    ids = set(snap.index.ids().tolist())
    sparse, sentences = snap.sparse, snap.sentences
    if set(sparse.ids.tolist()) != ids:
        sparse = clone_part(sparse)
        ordered = sorted(ids)
        sparse.build(ordered, fetch_texts(ordered) if ordered else [])
    extra = set(sentences.stored_ids()) - ids
    if extra:
        sentences = clone_part(sentences)
        sentences.remove(extra)
    tokens = snap.tokens
    extra = set(tokens.stored_ids()) - ids if tokens is not None else set()
    if extra:  # missing ones are encoded per hit at question time
        tokens = clone_part(tokens)
        tokens.remove(extra)
    return replace(snap, sparse=sparse, sentences=sentences, tokens=tokens)
