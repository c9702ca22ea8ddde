"""The application facade used by the CLI and every Discord cog: ingest, ask, status.

It owns the store, the encoder and the index for one data directory and keeps them in step.
All methods block (model, FAISS, SQLite): Discord code calls them through asyncio.to_thread.
"""
from __future__ import annotations

import dataclasses
from dataclasses import replace
import fcntl
import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np

from bot import private, web_ingest
from bot.generations import Snapshot, align_companions, clone_part, load_part, manifest_stamp
from bot.reports import IngestReport, RemovalReport, SourceReport, removal_row
from bot.settings import Settings
from corpus.aliases import AliasError, default_table
from corpus.bundled import bundled_dir
from corpus.errors import RoundupError
from corpus.mentions import mention_matcher
from corpus.model import Article
from corpus.passages import split_article
from corpus.readers import CorpusError, iter_source_files, read_file, shown_path
from corpus.store import SAMPLE, SHARED, PassageChanges, Store, StoreError, owned_by
from corpus.urls import strip_tracking
from digests.periods import Period, parse_period
from digests.summary import (Digest, DigestOptions, SentenceVectors, Topic, check_items, check_topic,
                             summarise)
from digests.trend import Trend, monthly_trend, typo_fixed, unknown_name, unknown_note
from digests.alerts import AlertMatch, match_alert
from embeddings.encoder import Encoder, encoder_for, prompts_id
from embeddings.index import SyncReport, VectorIndex
from embeddings.search import Answer, Retriever, check_question, embed_text
from embeddings.sentence_index import SENTENCES_FILE, SentenceIndex
from embeddings.sparse import SparseIndex
from embeddings.sync import SENTENCE_MODES, Parts, catch_up, keeps_tokens, plan_full
from embeddings.token_index import TOKENS_FILE, TokenIndex
from embeddings.days import DayTable, LazyDayTable
from embeddings.passage_cache import CachedPassages
from embeddings.token_cache import TokenCache

log = logging.getLogger(__name__)

EMBED_FORMAT = "section+text/v1"  # bump when embed_text changes: old vectors are then rebuilt
FEED_KEEP = 200_000  # change-feed rows kept; a snapshot further behind syncs by a full comparison


def _offset_progress(on_progress, offset: int, total: int):
    """A chunk's progress reported as progress through the whole sync."""
    if on_progress is None:
        return None
    return lambda done, _chunk_total: on_progress(offset + done, total)


class ServiceError(RoundupError):
    """A failure with a one-line message fit for the user."""


def guild_scope(guild_id: int | None) -> int:
    """The corpus a Discord place sees: a server's (shared + its own), or in DMs the shared one."""
    return int(guild_id) if guild_id else SHARED


class RoundupService:
    def __init__(self, settings: Settings, *, encoder: Encoder | None = None):
        self.settings = settings
        self._encoder = encoder
        self._store: Store | None = None
        self._snap: Snapshot | None = None
        self._swap = threading.Lock()  # held only to read or replace `_snap`: readers never wait longer
        self._load_lock = threading.Lock()  # the first load of the indexes in this process
        self._lock = threading.RLock()  # writers in this process, one at a time (with the flock: all processes)
        self._write_depth = 0  # write_lock nesting in the thread holding _lock
        self._writing = 0  # ingests, syncs and rebuilds under way in this process
        self._bootstrapping = False
        self.background_catch_up = False  # the bot indexes what is missing itself (see bot/cogs/upkeep.py)
        self._topics: dict[tuple[int, str, int | None], tuple[bool, np.ndarray]] = {}
        self._sentence_vectors: SentenceVectors | None = None
        self._visible: dict[tuple, object] = {}  # per generation and guild: visible passage ids, dates
        self._passages: CachedPassages | None = None  # candidates' passages for questions, per generation
        self._token_cache = TokenCache()  # passages' token vectors for the support re-ranking ("More results")

    # -- parts, built lazily so `status` never loads a model -------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._check_data_dir()
            try:
                self._store = Store(self.settings.store_path)
            except StoreError as exc:
                raise ServiceError(str(exc)) from exc
            private.secure_files(self.settings)
        return self._store

    @property
    def embed_format(self) -> str:
        """What the vectors are made from: the text form and, when set, the model's prompts
        (a change of either rebuilds the index and the sentence vectors)."""
        tag = prompts_id(self.settings.encoder.query_prompt, self.settings.encoder.passage_prompt)
        return f"{EMBED_FORMAT}+{tag}" if tag else EMBED_FORMAT

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = encoder_for(self.settings.encoder, cache_dir=self.settings.data_dir / "models")
        return self._encoder

    def _check_data_dir(self) -> None:
        d = self.settings.data_dir
        try:
            private.make_data_dir(self.settings)
        except OSError as exc:
            raise ServiceError(f"cannot create the data directory {d}: {exc.strerror}") from None
        if not os.access(d, os.W_OK | os.X_OK):
            raise ServiceError(f"the data directory {d} is not writable; choose another with --data-dir")

    @contextmanager
    def write_lock(self):
        """The one place writes are serialised, across threads and processes (a CLI ingest beside
        a running bot). Re-entrant in the holding thread: a web commit holds it across its duplicate
        check and `ingest_articles`, which takes it again (a second flock would deadlock).
        Questions never take it: they answer from the published snapshot."""
        with self._lock:
            if self._write_depth:
                self._write_depth += 1
                try:
                    yield
                finally:
                    self._write_depth -= 1
                return
            self._check_data_dir()
            with open(self.settings.data_dir / ".lock", "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                self._write_depth = 1
                self._writing += 1
                try:
                    yield
                finally:
                    self._writing -= 1
                    self._write_depth = 0
                    fcntl.flock(fh, fcntl.LOCK_UN)

    def writer_running(self) -> bool:
        """An ingest, sync or rebuild is under way here or in another process (one that holds the flock)."""
        if self._writing:
            return True
        try:  # a bare descriptor: asked on every question, where a Python file object cost a tenth of a ms
            fd = os.open(self.settings.data_dir / ".lock", os.O_RDONLY)
        except OSError:  # no lock file (nothing ever wrote here) or unreadable
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
        return False

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- index generations (bot/generations.py) ----------------------------------------------

    def _fetch_texts(self, ids: list[int]) -> list[str]:
        return [embed_text(p) for p in self.store.passages(ids)]

    def _fetch_plain(self, ids: list[int]) -> list[str]:
        return [p.text for p in self.store.passages(ids)]

    def _corpus_dates(self, owners=None) -> tuple[date | None, date | None]:
        counts = self.store.counts(owners)
        return tuple(date.fromisoformat(counts[k]) if counts[k] else None for k in ("first", "last"))

    def _scoped_dates(self, guild: int | None) -> tuple[date | None, date | None]:
        key = ("dates", self.store.generation(), guild)
        if key not in self._visible:
            self._visible[key] = self._corpus_dates(self.scope_owners(guild))
        return self._visible[key]

    def _manifests(self) -> list[Path]:
        d = self.settings.index_dir
        return [d / VectorIndex.MANIFEST, d / SparseIndex.MANIFEST, d / SentenceIndex.MANIFEST, d / TokenIndex.MANIFEST]

    def _empty_parts(self) -> Snapshot:
        s = self.settings
        return Snapshot(
            VectorIndex(s.index_dir, model=s.encoder.identity, dim=self.encoder.dim, index_type=s.index_type,
                        embed_format=self.embed_format, hnsw_threshold=s.hnsw_threshold),
            SparseIndex(s.index_dir, k1=s.bm25_k1, b=s.bm25_b),
            SentenceIndex(s.index_dir / SENTENCES_FILE, model=s.encoder.identity, embed_format=self._sentence_format()),
            tokens=TokenIndex(**self._token_args()) if self._keeps_tokens() else None)

    def _keeps_tokens(self) -> bool:
        """Passages' token vectors are kept at ingest when the support re-ranking is on and the
        ingest pass can give them (embeddings/sync.py, `keeps_tokens`)."""
        return self.settings.search.support_rerank_weight > 0 and keeps_tokens(self.encoder, self.settings.sentence_vectors)

    def _token_args(self) -> dict:
        s = self.settings
        return {"path": s.index_dir / TOKENS_FILE, "model": s.encoder.identity,
                "embed_format": self._sentence_format(), "codes": s.token_codes}

    def _sentence_format(self) -> str:
        mode = self.settings.sentence_vectors
        if mode not in SENTENCE_MODES:
            raise ServiceError(f"unknown sentence_vectors setting {mode!r} (use {' or '.join(SENTENCE_MODES)})")
        return f"{self.embed_format}+{mode}"

    def _load_parts(self) -> tuple[Snapshot, list[str]]:
        """The saved parts, each verified; a damaged one comes back empty with its reason, logged once."""
        s = self.settings
        stamp = manifest_stamp(self._manifests())
        index, r1 = load_part(VectorIndex, s.index_dir, model=s.encoder.identity, dim=self.encoder.dim,
                              index_type=s.index_type, embed_format=self.embed_format, hnsw_threshold=s.hnsw_threshold)
        sparse, r2 = load_part(SparseIndex, s.index_dir, k1=s.bm25_k1, b=s.bm25_b)
        sentences, r3 = load_part(SentenceIndex, s.index_dir / SENTENCES_FILE, model=s.encoder.identity,
                                  embed_format=self._sentence_format())
        tokens, r4 = load_part(TokenIndex, **self._token_args()) \
            if self._keeps_tokens() else (None, None)
        reasons = [(part.LABEL, r) for part, r in ((index, r1), (sparse, r2), (sentences, r3), (tokens, r4)) if r]
        for label, reason in reasons:
            log.warning("rebuilding %s from the store: %s", label, reason)
        return Snapshot(index, sparse, sentences, stamp=stamp, tokens=tokens), reasons

    def current(self) -> Snapshot | None:
        with self._swap:
            return self._snap

    def _publish(self, snap: Snapshot) -> Snapshot:
        with self._swap:
            self._snap = snap
        return snap

    def snapshot(self) -> Snapshot:
        """The last complete generation, for questions. Never waits for a writer and never embeds
        what an interrupted ingest left out (that is `ensure_ready`'s job); the first call in a
        process loads the saved indexes, and only an empty data directory (the bundled sample)
        or a damaged or absent index is built here, since there is nothing else to answer from."""
        snap = self.current()
        if snap is not None:
            return snap
        if self._needs_bootstrap():
            self.ensure_ready()
            return self.current()
        with self._load_lock:
            if self.current() is None:
                snap = self._load_for_reading()
                with self._swap:
                    if self._snap is None:  # a writer may have published a newer one meanwhile
                        self._snap = snap
            return self.current()

    def _load_for_reading(self) -> Snapshot:
        snap, reasons = self._load_parts()
        held = self.store.generation()  # read before the ids: a change after it moves the generation
        seq = self.store.change_seq()  # read before the ids: a change after it is caught up from the feed
        store_ids = self.store.passage_ids()
        if reasons or (store_ids and not len(snap.index)):
            with self.write_lock():
                return self._bring_in_step(snap, None, damaged=bool(reasons))[0]
        have = set(snap.index.ids().tolist())
        stale = have - store_ids
        if stale:  # gone from the store: dropping them embeds nothing
            snap = replace(snap, index=clone_part(snap.index))
            snap.index.remove(stale)
        snap = align_companions(snap, self._fetch_texts)
        # Passages without token vectors (a data dir from before they were kept) are pending too: the
        # next sync compares every id and embeds them; questions meanwhile encode their support live.
        lacking = len(have & store_ids) - len(snap.tokens) if snap.tokens is not None else 0
        snap = replace(snap, dates=self._corpus_dates(), pending=len(store_ids - have) + max(0, lacking), seq=seq,
                       held=held, days=LazyDayTable(self.store.passage_days))
        gc.freeze()  # what is loaded lives as long as the process: keep the collector off it
        return snap

    def _writer_base(self) -> tuple[Snapshot, list[str]]:
        """What a writer starts from (under the write lock): the published snapshot if the files on
        disk are still the ones it matches, else what another process saved since."""
        cur = self.current()
        if cur is not None and cur.stamp == manifest_stamp(self._manifests()):
            return cur.clone(), []
        return self._load_parts()

    def _changes_for(self, work: Snapshot, reasons: list) -> PassageChanges | None:
        """What changed in the store since `work` was in step with it, from the change feed; None
        when only a full comparison can tell (a part loaded from disk or damaged, passages an
        interrupted ingest left out, a feed pruned past it)."""
        if reasons or work.pending or work.days is None or not self.store.feed_covers(work.seq):
            return None
        return self.store.changes_since(work.seq)

    def _bring_in_step(self, work: Snapshot, changes: PassageChanges | None, *, damaged: bool = False,
                       on_progress: Callable[[int, int], None] | None = None,
                       chunked: bool = True) -> tuple[Snapshot, SyncReport]:
        """Sync the working parts to the store and publish them (under the write lock).

        `changes` (from the change feed) says which ids to add and drop; without it every id is
        compared. Missing passages are embedded in chunks; after each chunk the dense and sentence
        vectors are saved, so a killed long sync resumes where it stopped (`chunked=False`, for a
        rebuild, saves only at the end, so a killed rebuild leaves the previous files whole).
        Readers keep the previous snapshot until the new one is complete."""
        enc, generation = self.encoder, self.store.generation()
        parts = Parts(work.index, work.sparse, work.sentences, work.tokens)
        if changes is None:
            seq = self.store.change_seq()
            added, removed = plan_full(parts, self.store.passage_ids())
        else:
            seq, added, removed = changes.seq, sorted(changes.added), sorted(changes.removed)
        step = max(1, self.settings.index_save_every if chunked else len(added))
        embedded = dropped = 0
        for start in range(0, max(len(added), 1), step):
            # one forward pass gives passage and sentence vectors; each part saved once per chunk
            report = catch_up(parts, added[start:start + step], removed if start == 0 else [], self.store.passages,
                              enc, mode=self.settings.sentence_vectors,
                              on_progress=_offset_progress(on_progress, start, len(added)))
            embedded, dropped = embedded + report.added, dropped + report.removed
        if damaged:  # an empty store still deserves valid files in place of the damaged ones
            for part in (work.index, work.sparse, work.sentences, work.tokens):
                if part is not None:
                    part.save()
        private.secure_files(self.settings)
        snap = self._publish(replace(work, dates=self._corpus_dates(), generation=generation, seq=seq, pending=0,
                                     held=generation,
                                     stamp=manifest_stamp(self._manifests()), days=self._days_after(work, changes)))
        self.store.prune_changes(FEED_KEEP)
        gc.freeze()  # what is loaded lives as long as the process: keep the collector off it
        return snap, SyncReport(embedded, dropped, rebuilt=damaged)

    def _days_after(self, work: Snapshot, changes: PassageChanges | None) -> DayTable:
        """Publication days after a sync: the old table patched with what the feed names, or read whole."""
        if changes is None or work.days is None:
            return DayTable(*self.store.passage_days())
        return work.days.patched(changes.removed, *self.store.passage_days(changes.added | changes.redated))

    def ensure_ready(self, on_progress: Callable[[int, int], None] | None = None) -> VectorIndex:
        """Catch up: the store has a corpus and the indexes hold exactly its passages, published as a
        new snapshot. Cheap when nothing changed. For commands that write (ingest, rebuild, run) and
        the bot's background task, never for a question."""
        return self._catch_up(on_progress)[0].index

    def _catch_up(self, on_progress=None) -> tuple[Snapshot, SyncReport]:
        with self.write_lock():
            self._bootstrap(on_progress)
            cur = self.current()
            generation = self.store.generation()
            if (cur is not None and cur.generation == generation and not cur.pending
                    and cur.stamp == manifest_stamp(self._manifests())):
                return cur, SyncReport(0, 0, rebuilt=False)
            work, reasons = self._writer_base()
            return self._bring_in_step(work, self._changes_for(work, reasons), damaged=bool(reasons),
                                       on_progress=on_progress)

    def index_lag(self) -> int:
        """How far the saved dense index is out of step with the store (passages an interrupted
        ingest left out, or removed ones still held), from its manifest: no model, nothing loaded."""
        if not self.settings.store_path.exists():
            return 0
        saved = VectorIndex.describe(self.settings.index_dir).get("count") or 0
        return abs(int(self.store.counts()["passages"]) - int(saved))

    def needs_catch_up(self) -> bool:
        """The store changed since the published snapshot (cheap: one read of a counter)."""
        cur = self.current()
        return cur is None or cur.pending > 0 or cur.generation != self.store.generation()

    def needs_sample(self) -> bool:
        """An empty data directory that the next question fills with the bundled sample (a first run)."""
        return self._needs_bootstrap()

    def _needs_bootstrap(self) -> bool:
        s = self.settings
        return s.auto_ingest_bundled and s.sample and self.store.counts()["articles"] == 0

    def _bootstrap(self, on_progress=None) -> None:
        """The first command on an empty data directory ingests the bundled sample roundups."""
        if not self._bootstrapping and self._needs_bootstrap():
            log.info("empty data directory: ingesting the bundled sample roundups")  # the CLI shows progress
            self._bootstrapping = True
            try:
                self._ingest_paths([bundled_dir()], on_progress=on_progress, owners=(SAMPLE,))
            finally:
                self._bootstrapping = False

    def rebuild(self, on_progress=None) -> SyncReport:
        """Every passage embedded again into new parts; questions use the old ones until it ends."""
        with self.write_lock():
            snap, report = self._bring_in_step(self._empty_parts(), None, damaged=True,
                                               on_progress=on_progress, chunked=False)
            return SyncReport(report.added, report.removed, rebuilt=True, reason="asked for")

    # -- ingest ----------------------------------------------------------------------------

    def ingest(self, paths: Iterable[str | Path], *, overrides: dict | None = None,
               on_progress: Callable[[int, int], None] | None = None,
               owners: Iterable[int] = (SHARED,)) -> IngestReport:
        with self.write_lock():
            self._bootstrap(on_progress)
            return self._ingest_paths([Path(p) for p in paths], overrides=overrides, on_progress=on_progress,
                                      owners=tuple(owners))

    def ingest_articles(self, articles: list[Article], *, origin: str,
                        on_progress: Callable[[int, int], None] | None = None,
                        owners: Iterable[int] = (SHARED,)) -> IngestReport:
        """For sources that are not files (feeds, pages): store, then embed what is new.
        `owners`: the servers whose feeds or backfills brought them (SHARED: the operator's)."""
        start = time.perf_counter()
        report = IngestReport()
        with self.write_lock():
            self._bootstrap(on_progress)
            report.sources.append(self._store_articles(origin, articles, tuple(owners)))
            self._embed_missing(report, on_progress)
        report.elapsed_s = time.perf_counter() - start
        return report

    async def ingest_urls(self, urls: Iterable[str], session=None, *, force: bool = False, on_event=None,
                          on_progress: Callable[[int, int], None] | None = None,
                          owners: dict[str, tuple[int, ...]] | None = None) -> IngestReport:
        """Feeds and article pages over HTTP, for the CLI and the bot's event loop: network I/O in
        asyncio (on `session` if given), storing and embedding in threads via `ingest_articles`."""
        return await web_ingest.ingest_urls(self, list(urls), session, config=self.settings.fetch,
                                            force=force, on_event=on_event, on_progress=on_progress,
                                            owners=owners)

    def _ingest_paths(self, paths: list[Path], *, overrides: dict | None = None,
                      on_progress=None, owners: tuple[int, ...] = (SHARED,)) -> IngestReport:
        start = time.perf_counter()
        report = IngestReport()
        with self.write_lock():
            for path in paths:
                try:
                    files = list(iter_source_files(path))
                except CorpusError as exc:
                    report.sources.append(SourceReport(shown_path(path), errors=[str(exc)]))
                    self.store.log_ingest(shown_path(path), "failed", detail=str(exc))
                    continue
                if not files:
                    msg = f"{shown_path(path)}: no supported roundup files found"
                    report.sources.append(SourceReport(shown_path(path), errors=[msg]))
                    continue
                for file in files:
                    try:
                        result = read_file(file, overrides=overrides)
                    except CorpusError as exc:
                        report.sources.append(SourceReport(shown_path(file), errors=[str(exc)]))
                        self.store.log_ingest(shown_path(file), "failed", detail=str(exc))
                        continue
                    src = self._store_articles(shown_path(file), result.articles, owners, result.errors)
                    report.sources.append(src)
            self._embed_missing(report, on_progress)
        report.elapsed_s = time.perf_counter() - start
        return report

    def _store_articles(self, origin: str, articles: list[Article], owners: tuple[int, ...] = (SHARED,),
                        errors: list[str] | None = None) -> SourceReport:
        """Store one source's articles for `owners` and log it, with the errors met reading it (a bad line)."""
        src = SourceReport(origin, errors=list(errors or []))
        for article in articles:
            passages = split_article(article)
            if not passages:
                src.errors.append(f"{origin}: article {article.id!r} has no text after cleaning")
                continue
            res = self.store.upsert_article(article, passages, origin=origin, owners=owners)
            setattr(src, res.status, getattr(src, res.status) + 1)
            src.passages_added += res.passages_added
        self.store.log_ingest(origin, src.status, added=src.added, updated=src.updated, skipped=src.unchanged,
                              passages=src.passages_added, detail="; ".join(src.errors)[:2000] or None)
        return src

    def _embed_missing(self, report: IngestReport, on_progress) -> None:
        """Under the write lock: the new passages (and any an earlier run left out) into a new generation."""
        _, sync = self._catch_up(on_progress)
        report.embedded += sync.added
        report.removed += sync.removed

    # -- taking things out -----------------------------------------------------------------

    def remove(self, *, url: str | None = None, source: str | None = None, before: str | None = None,
               guild: int | None = None, dry_run: bool = False) -> RemovalReport:
        """Take articles out by address (or the feed/page they came from), source name or date.

        The operator (`guild` None) removes them for everyone; a server only lets go of its own
        articles, and one another owner still holds stays. The store commits first, in
        batches; the vectors, keyword and sentence indexes then follow it by the usual sync, so
        a kill at any point leaves the next command to finish bringing them in step.
        """
        if url is None and source is None and before is None:
            raise ServiceError("say what to remove: --url, --source or --before")
        if before is not None:
            try:
                before = date.fromisoformat(before.strip()).isoformat()
            except ValueError:
                raise ServiceError(f"--before wants a date as YYYY-MM-DD, not {before!r}") from None
        if guild == SHARED:
            guild = None  # the shared corpus is the operator's
        url = url.strip() if url else None
        rows = self.store.find_articles(url=strip_tracking(url) if url else None, source=source, before=before,
                                        owner=guild)  # stored links carry no tracking parameters
        if not rows and url and strip_tracking(url) != url:  # ... except ones stored before they were stripped
            rows = self.store.find_articles(url=url, source=source, before=before, owner=guild)
        report = RemovalReport([removal_row(r) for r in rows], dry_run=dry_run, guild=guild)
        if dry_run or not rows:
            return report
        with self.write_lock():
            deleted, passages = self.store.remove_articles([r["id"] for r in rows], owner=guild)
            log.warning("removed %d articles (%d passages)%s", deleted, passages,
                        f" for guild {guild}" if guild is not None else "")
            sync = IngestReport()
            self._embed_missing(sync, None)
        report.deleted, report.passages, report.vectors_removed = deleted, passages, sync.removed
        return report

    # -- questions -------------------------------------------------------------------------

    def retriever(self, guild: int | None = None, *, snap: Snapshot | None = None) -> Retriever:
        """A retriever over one snapshot: nothing a writer does later changes what it searches.
        "Latest" and the covered range are those of the corpus `guild` sees (`ask` also restricts
        its search to it)."""
        snap = snap or self.snapshot()
        try:
            aliases = default_table(str(self.settings.alias_file) if self.settings.alias_file else None)
        except AliasError as exc:
            raise ServiceError(str(exc)) from None
        first, last = snap.dates
        if self.visible(guild) is not None:
            first, last = self._scoped_dates(guild)
        source = self.passage_source()
        try:
            return Retriever(source, snap.index, self.encoder, sparse=snap.sparse, sentences=snap.sentences,
                             aliases=aliases, config=self.settings.search, anchor=last, first=first, days=snap.days,
                             token_cache=self._token_cache, tokens=snap.tokens, in_step=snap.held == source.generation)
        except ValueError as exc:
            raise ServiceError(f"bad retrieval setting: {exc}") from None

    def passage_source(self) -> CachedPassages:
        """Passages by id for questions: the store's, remembered until its generation moves."""
        generation = self.store.generation()
        cache = self._passages
        if cache is None or cache.generation != generation:
            cache = self._passages = CachedPassages(self.store, generation)
        return cache

    def _passage_count(self) -> int:
        """Passages in the store, counted once per store generation (not on every question)."""
        key = ("passages", self.store.generation())
        if key not in self._visible:
            self._visible[key] = int(self.store.counts()["passages"])
        return self._visible[key]

    def lag_notes(self, snap: Snapshot) -> list[str]:
        """What a reader should know about the snapshot it was answered from."""
        notes = []
        if self.writer_running():
            notes.append("an ingest is running: this answer comes from the roundups indexed before it")
        pending = max(0, self._passage_count() - len(snap.index))
        if pending:
            notes.append(f"{pending} passages not yet indexed; " + (
                "they are being indexed now" if self.background_catch_up
                else "run `roundup-bot ingest` to finish"))
        return notes

    def ask(self, question: str, *, k: int | None = None, since: str | None = None, until: str | None = None,
            offset: int = 0, with_best_sentence: bool = True, mode: str | None = None,
            diverse: bool = True, checked: bool = False, guild: int | None = None) -> Answer:
        """Answer from the roundups. `mode` overrides the retrieval setting (dense, bm25, hybrid);
        `diverse=False` lets one roundup fill the top three (when a member asks for more of it);
        `guild` answers from what that server sees (see `scope_owners`).
        The question is checked here once (`checked=True`: the caller already did, at its edge)."""
        if not checked:
            question = check_question(question)
        snap = self.snapshot()
        answer = self.retriever(guild, snap=snap).search(question, k=k or self.settings.top_k, since=since, until=until,
                                                    offset=offset, mode=mode, diverse=diverse,
                                                    best_sentence=with_best_sentence, checked=True,
                                                    restrict=self.visible(guild))
        answer.notes.extend(self.lag_notes(snap))
        return answer

    # -- who sees what ---------------------------------------------------------------------

    def scope_owners(self, guild: int | None) -> set[int] | None:
        """The owners whose articles `guild` sees: a server sees the shared corpus, the sample
        (unless switched off) and its own articles; SHARED (DMs) the first two; None (the
        operator at the CLI) everything. None back means no restriction at all."""
        sample = self.settings.sample
        if guild is None:
            return None if sample else self.store.owner_ids() - {SAMPLE}
        owners = {SHARED} if guild == SHARED else {SHARED, int(guild)}
        if sample:
            owners.add(SAMPLE)
        return owners

    def visible(self, guild: int | None) -> frozenset[int] | None:
        """Passage ids `guild` may see (None: all), cached per store generation."""
        if guild is None and self.settings.sample:
            return None
        key = (self.store.generation(), guild)
        cached = self._visible.get(key, False)
        if cached is False:
            owners = self.scope_owners(guild)
            cached = None if owners is None else frozenset(self.store.visible_passage_ids(owners))
            if len(self._visible) > 256:
                self._visible.clear()
            self._visible[key] = cached
        return cached

    def _visible_between(self, since: str | None, until: str | None, guild: int | None) -> list[int]:
        ids = self.store.passage_ids_between(since, until)
        visible = self.visible(guild)
        return ids if visible is None else [i for i in ids if i in visible]

    # -- digests and trends -----------------------------------------------------------------

    def topic(self, text: str, guild: int | None = None) -> Topic:
        """A name the corpus `guild` sees uses is matched by name (so "Huawei" keeps only
        Huawei); anything else by meaning, above `digest_topic_floor`. Cached per corpus generation."""
        text = check_topic(text)
        matcher = mention_matcher(text)
        key = (self.store.generation(), text, guild)
        cached = self._topics.get(key)
        if cached is None:
            visible = self.visible(guild)
            named = any(matcher(r[1]) for r in self.store.execute("SELECT id, text FROM passages")
                        if visible is None or r[0] in visible)
            if len(self._topics) > 256:
                self._topics.clear()
            cached = self._topics[key] = (named, self.encoder.encode_query(text)[0])
        named, vector = cached
        return Topic(text, vector, matcher if named else None, self.settings.digest_topic_floor)

    @property
    def sentence_vectors(self) -> SentenceVectors:
        """Digest sentence vectors, cached per passage for the life of the service."""
        if self._sentence_vectors is None:
            self._sentence_vectors = SentenceVectors(self.encoder.encode_queries)
        return self._sentence_vectors

    def period(self, period: str | None = None, *, since: str | None = None, until: str | None = None,
               topic: str | None = None, guild: int | None = None) -> Period:
        """Default: the latest week with roundups (that `guild` sees), or for a topic every
        roundup. Raises PeriodError."""
        counts = self.store.counts(self.scope_owners(guild))
        if not period and not since and not until:
            period = "all" if topic else "latest"
        return parse_period(period, since=since, until=until, newest=counts["last"], oldest=counts["first"])

    def digest(self, period: str | None = None, topic: str | None = None, items: int | None = None,
               since: str | None = None, until: str | None = None, guild: int | None = None) -> Digest:
        """An extractive digest of a period (optionally on a topic): see digests/summary.py."""
        topic = check_topic(topic)
        items = check_items(items, self.settings.digest_items)
        index = self.snapshot().index
        counts = self.store.counts(self.scope_owners(guild))
        span = self.period(period, since=since, until=until, topic=topic, guild=guild)
        indexed = set(index.ids().tolist())  # a snapshot may lag the store: digest what it holds
        passages = [p for p in self.store.passages(self._visible_between(span.since, span.until, guild))
                    if p.id in indexed]
        vectors = index.vectors([p.id for p in passages])
        return summarise(passages, vectors, self.sentence_vectors, span,
                         topic=self.topic(topic, guild) if topic else None, options=DigestOptions(items=items),
                         coverage=(counts["first"], counts["last"]))

    def _aliases(self):
        try:
            return default_table(str(self.settings.alias_file) if self.settings.alias_file else None)
        except AliasError as exc:
            raise ServiceError(str(exc)) from None

    def trend_name(self, name: str, guild: int | None = None) -> tuple[str, str | None]:
        """The name a trend charts (a typo of a known name read as that name, as questions are)
        and, for a name neither the alias table nor the corpus knows, the one-line refusal that
        replaces a chart of chance meaning matches. Cheap: no model; for a server's scope, one
        indexed-word check and at most one LIKE query per word of the name."""
        name = check_topic(name)
        sparse, aliases = self.snapshot().sparse, self._aliases()
        if not len(sparse):
            return name, None
        knows = self._knows_in(sparse, guild)
        name = typo_fixed(name, knows, aliases)
        if not unknown_name(name, knows, aliases):
            return name, None
        counts = self.store.counts(self.scope_owners(guild))
        return name, unknown_note(name, (counts["first"], counts["last"]))

    def _knows_in(self, sparse: SparseIndex, guild: int | None) -> Callable[[str], bool]:
        """Whether the corpus `guild` sees has a word: the keyword index knows it and, for a
        scoped server, one of its visible passages holds it (another server's words stay unknown)."""
        owners = self.scope_owners(guild)
        if owners is None:
            return sparse.knows
        clause, params = owned_by("passages.article_id", owners)

        def knows(word: str) -> bool:
            if not sparse.knows(word):
                return False
            like = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return bool(self.store.execute(f"SELECT 1 FROM passages WHERE {clause} AND text LIKE ? ESCAPE '\\' "
                                           "LIMIT 1", [*params, f"%{like}%"]))

        return knows

    def trend(self, name: str, *, chart: bool = True, guild: int | None = None) -> Trend:
        """Passages mentioning `name` per month over the corpus `guild` sees, with a PNG bar chart."""
        name, refusal = self.trend_name(name, guild)
        if refusal:
            return Trend(name, "name", (), (), refusal)
        topic = self.topic(name, guild)
        index = self.snapshot().index
        counts = self.store.counts(self.scope_owners(guild))
        visible = self.visible(guild)
        if topic.matcher is not None:
            rows = self.store.execute("SELECT id, text FROM passages")
            ids = [r[0] for r in rows if topic.matcher(r[1]) and (visible is None or r[0] in visible)]
        else:
            ids = [i for i, score in index.search(topic.vector, len(index), allowed=visible)
                   if score >= topic.floor]
        trend = monthly_trend(topic.text, topic.mode, self.store.passages(ids), (counts["first"], counts["last"]))
        if chart and trend.total:
            from bot.charts import trend_png

            trend = dataclasses.replace(trend, png=trend_png(trend))
        return trend

    def alert_matches(self, topic: str, passage_ids: list[int], guild: int | None = None) -> list[AlertMatch]:
        """Which of these passages are about `topic` (as `/digest topic:` reads it), the best
        one per roundup: see embeddings/alerts.py."""
        if not passage_ids:
            return []
        t = self.topic(topic, guild)
        index = self.snapshot().index
        passages = self.store.passages(passage_ids)
        vectors = index.vectors([p.id for p in passages])
        return match_alert(passages, vectors, query=t.vector, matcher=t.matcher, floor=t.floor)

    # -- what we know ----------------------------------------------------------------------

    def status(self, guild: int | None = None) -> dict:
        """What the store and indexes hold; with `guild`, the corpus that server sees and what it owns."""
        owners = self.scope_owners(guild)
        counts = self.store.counts(owners)
        return {
            "data_dir": str(self.settings.data_dir),
            "articles": counts["articles"], "passages": counts["passages"],
            "first_published": counts["first"], "last_published": counts["last"],
            "model": self.settings.encoder.model, "index": self._index_status(),
            "sources": [{"source": s, "articles": n} for s, n in self.store.sources(owners)],
            "last_ingest": self.store.last_ingest(),
            "sample": self.settings.sample,
            **({"guild": guild, "owned": self._owned(guild)} if guild is not None else {}),
        }

    def _owned(self, guild: int) -> dict:
        counts = self.store.counts({guild})
        return {"articles": counts["articles"], "passages": counts["passages"],
                "sources": [{"source": s, "articles": n} for s, n in self.store.sources({guild})]}

    def _index_status(self) -> dict:
        """Each stored part's figures from its manifest (embeddings/stored.py); nothing is loaded."""
        d = self.settings.index_dir
        dense, keyword, sentences = VectorIndex.describe(d), SparseIndex.describe(d), SentenceIndex.describe(d)
        info: dict = {"type": self.settings.index_type, "vectors": dense.get("count"),
                      "built_at": dense.get("built_at"), "bytes": dense.get("bytes", 0)}
        if "error" in dense:
            info["error"] = dense["error"]
        elif dense.get("params"):
            info["model"] = dense["params"].get("model")
        if "error" in keyword or keyword.get("built_at"):
            info["keyword"] = keyword if "error" in keyword else {"passages": keyword["count"],
                                                                   "built_at": keyword["built_at"]}
        info["sentences"] = sentences if "error" in sentences else {"passages": sentences["count"],
                                                                    "built_at": sentences["built_at"],
                                                                    "bytes": sentences["bytes"]}
        tokens = TokenIndex.describe(d)
        if "error" in tokens or tokens.get("built_at"):
            info["tokens"] = tokens if "error" in tokens else {"passages": tokens["count"],
                                                               "built_at": tokens["built_at"], "bytes": tokens["bytes"]}
        info["retrieval"] = self.settings.search.mode
        return info

    # -- timelines and the corpus's best-known names (additive: /timeline, /help) -------------------

    def known_names(self, guild: int | None = None):
        """Alias-table names by how many roundups `guild` sees mention them, cached per corpus generation."""
        from bot.timeline import known_names

        key = (self.store.generation(), guild)
        cached = getattr(self, "_known_names", None)
        if cached is None or cached[0] != key:
            owners = self.scope_owners(guild)
            clause, params = "", []
            if owners is not None:
                clause, params = owned_by("passages.article_id", owners)
                clause = " WHERE " + clause
            rows = self.store.execute(
                "SELECT article_id, group_concat(coalesce(section, '') || ' ' || text, ' ') AS t "
                f"FROM passages{clause} GROUP BY article_id", params)
            aliases = default_table(str(self.settings.alias_file) if self.settings.alias_file else None)
            cached = self._known_names = (key, known_names([r["t"] for r in rows], aliases))
        return cached[1]

    def timeline(self, name: str, *, since: str | None = None, until: str | None = None,
                 guild: int | None = None):
        """What the roundups `guild` sees said about `name`, one entry per roundup in date order
        (bot/timeline.py)."""
        from bot.timeline import Timeline, build_entries, canonical_name, kept_sentence_vectors, suggest

        typed = check_topic(name)
        if not typed:
            raise ServiceError("give a name, e.g. Huawei")
        aliases = default_table(str(self.settings.alias_file) if self.settings.alias_file else None)
        canonical = canonical_name(typed, aliases)
        snap = self.snapshot()  # a first question on an empty data directory brings in the sample
        passages = self.store.passages(self._visible_between(since, until, guild))
        entries = build_entries(passages, functools.partial(kept_sentence_vectors, snap.sentences,
                                                            self.sentence_vectors.many),
                                self.encoder.encode_query(canonical)[0], mention_matcher(canonical))
        out = Timeline(canonical, typed, entries, since, until)
        if not entries:
            out.suggestions = [n for n in suggest(canonical, self.known_names(guild))
                               if n.lower() != canonical.lower()]
        return out
