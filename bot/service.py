"""The application facade used by the CLI and every Discord cog: ingest, ask, status.

It owns the store, the encoder and the index for one data directory and keeps them in step.
All methods block (model, FAISS, SQLite): Discord code calls them through asyncio.to_thread.
"""
from __future__ import annotations

import dataclasses
import fcntl
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

from bot import web_ingest
from bot.reports import IngestReport, SourceReport
from bot.settings import Settings
from corpus.aliases import AliasError, default_table
from corpus.bundled import bundled_dir
from corpus.errors import RoundupError
from corpus.mentions import mention_matcher
from corpus.model import Article
from corpus.passages import split_article
from corpus.readers import CorpusError, iter_source_files, read_file, shown_path
from corpus.store import Store, StoreError
from digests.periods import Period, parse_period
from digests.summary import (Digest, DigestOptions, SentenceVectors, Topic, check_items, check_topic,
                             summarise)
from digests.trend import Trend, monthly_trend
from embeddings.days import DayTable
from embeddings.encoder import Encoder, encoder_for
from embeddings.index import SyncReport, VectorIndex
from embeddings.search import Answer, Retriever, check_question
from embeddings.sentence_index import SENTENCES_FILE, SentenceIndex
from embeddings.sparse import SparseIndex
from embeddings.sync import SENTENCE_MODES, Parts, catch_up, sync_parts

log = logging.getLogger(__name__)

EMBED_FORMAT = "section+text/v1"  # bump when embed_text changes: old vectors are then rebuilt


class ServiceError(RoundupError):
    """A failure with a one-line message fit for the user."""


class RoundupService:
    def __init__(self, settings: Settings, *, encoder: Encoder | None = None):
        self.settings = settings
        self._encoder = encoder
        self._store: Store | None = None
        self._index: VectorIndex | None = None
        self._sparse: SparseIndex | None = None
        self._sentences: SentenceIndex | None = None
        self._dates: tuple[date | None, date | None] = (None, None)
        self._generation = -1
        self._lock = threading.RLock()
        self._write_depth = 0  # write_lock nesting in the thread holding _lock
        self._topics: dict[tuple[int, str], tuple[bool, np.ndarray]] = {}
        self._sentence_vectors: SentenceVectors | None = None
        self._days: DayTable | None = None  # publication days as arrays (date filters by mask)
        self._seq = 0  # the store's change feed, applied up to here

    # -- parts, built lazily so `status` never loads a model -------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._check_data_dir()
            try:
                self._store = Store(self.settings.store_path)
            except StoreError as exc:
                raise ServiceError(str(exc)) from exc
        return self._store

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = encoder_for(self.settings.encoder, cache_dir=self.settings.data_dir / "models")
        return self._encoder

    def _check_data_dir(self) -> None:
        d = self.settings.data_dir
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServiceError(f"cannot create the data directory {d}: {exc.strerror}") from None
        if not os.access(d, os.W_OK | os.X_OK):
            raise ServiceError(f"the data directory {d} is not writable; choose another with --data-dir")

    @contextmanager
    def write_lock(self):
        """The one place writes are serialised, across threads and processes (a CLI ingest beside
        a running bot). Re-entrant in the holding thread: a web commit holds it across its duplicate
        check and `ingest_articles`, which takes it again (a second flock would deadlock)."""
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
                try:
                    yield
                finally:
                    self._write_depth = 0
                    fcntl.flock(fh, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- index -----------------------------------------------------------------------------

    def _load_parts(self, *, fresh: bool = False) -> Parts:
        """The three derived parts from disk (or empty when `fresh`); a part that cannot be used
        is rebuilt from the store, with its reason logged once."""
        s = self.settings
        if s.sentence_vectors not in SENTENCE_MODES:
            raise ServiceError(f"unknown sentence_vectors setting {s.sentence_vectors!r} "
                               f"(use {' or '.join(SENTENCE_MODES)})")
        sent_format = f"{EMBED_FORMAT}+{s.sentence_vectors}"
        loaders = (
            ("rebuilding the index from the store", VectorIndex,
             dict(directory=s.index_dir, model=s.encoder.identity, dim=self.encoder.dim, index_type=s.index_type,
                  embed_format=EMBED_FORMAT, hnsw_threshold=s.hnsw_threshold)),
            ("rebuilding the keyword index from the store", SparseIndex,
             dict(directory=s.index_dir, k1=s.bm25_k1, b=s.bm25_b)),
            ("re-embedding sentences from the store", SentenceIndex,
             dict(path=s.index_dir / SENTENCES_FILE, model=s.encoder.identity, embed_format=sent_format)),
        )
        parts = []
        for what, kind, kwargs in loaders:
            part, reason = (kind(**kwargs), None) if fresh else kind.load(**kwargs)
            if reason:
                log.warning("%s: %s", what, reason)
                part.reason = reason
            parts.append(part)
        return Parts(*parts)

    def _sync_parts(self, parts: Parts, on_progress=None) -> SyncReport:
        """The full comparison (at load and rebuild); then the change feed takes over."""
        seq = self.store.change_seq()  # read first: a change during the comparison is applied again
        store_ids = self.store.passage_ids()
        report = sync_parts(parts, store_ids, self.store.passages, self.encoder,
                            mode=self.settings.sentence_vectors, on_progress=on_progress)
        for part in (parts.index, parts.sparse, parts.sentences):
            if getattr(part, "reason", None) and not part.manifest_path.exists():
                part.save()  # an empty store still deserves valid files on disk
        self._index, self._sparse, self._sentences = parts.index, parts.sparse, parts.sentences
        self._days = DayTable(*self.store.passage_days())
        self._seq = seq
        self._dates = self._corpus_dates()
        # What is loaded now lives as long as the process: keep the collector from walking it
        # again (full collections during date-bounded questions took 250 ms at 100k passages).
        gc.freeze()
        return report

    def _corpus_dates(self) -> tuple[date | None, date | None]:
        counts = self.store.counts()
        return tuple(date.fromisoformat(counts[k]) if counts[k] else None for k in ("first", "last"))

    def ensure_ready(self, on_progress: Callable[[int, int], None] | None = None) -> VectorIndex:
        """The store has a corpus and the index holds exactly its passages; cheap when nothing changed."""
        with self._lock:
            self._bootstrap(on_progress)
            generation = self.store.generation()
            if self._index is None or generation != self._generation:
                with self.write_lock():
                    self._load_and_sync(on_progress)
                self._generation = generation
            return self._index

    def _bootstrap(self, on_progress=None) -> None:
        """The first command on an empty data directory ingests the bundled sample roundups."""
        if self.settings.auto_ingest_bundled and self.store.counts()["articles"] == 0:
            log.warning("empty data directory: ingesting the bundled sample roundups")
            self._ingest_paths([bundled_dir()], on_progress=on_progress)

    def _load_and_sync(self, on_progress=None) -> SyncReport:
        parts = self._load_parts()
        report = self._sync_parts(parts, on_progress)
        reason = getattr(parts.index, "reason", None)
        return SyncReport(report.added, report.removed, rebuilt=bool(reason), reason=reason)

    def rebuild(self, on_progress=None) -> SyncReport:
        with self._lock, self.write_lock():
            report = self._sync_parts(self._load_parts(fresh=True), on_progress)
            self._generation = self.store.generation()
            return SyncReport(report.added, report.removed, rebuilt=True, reason="asked for")

    # -- ingest ----------------------------------------------------------------------------

    def ingest(self, paths: Iterable[str | Path], *, overrides: dict | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> IngestReport:
        with self._lock:
            self._bootstrap(on_progress)
            return self._ingest_paths([Path(p) for p in paths], overrides=overrides, on_progress=on_progress)

    def ingest_articles(self, articles: list[Article], *, origin: str,
                        on_progress: Callable[[int, int], None] | None = None) -> IngestReport:
        """For sources that are not files (feeds, pages): store, then embed what is new."""
        start = time.perf_counter()
        report = IngestReport()
        with self._lock:
            self._bootstrap(on_progress)
        with self._lock, self.write_lock():
            report.sources.append(self._store_articles(origin, articles))
            self._embed_missing(report, on_progress)
        report.elapsed_s = time.perf_counter() - start
        return report

    async def ingest_urls(self, urls: Iterable[str], session=None, *, force: bool = False, on_event=None,
                          on_progress: Callable[[int, int], None] | None = None) -> IngestReport:
        """Feeds and article pages over HTTP, for the CLI and the bot's event loop: network I/O in
        asyncio (on `session` if given), storing and embedding in threads via `ingest_articles`."""
        return await web_ingest.ingest_urls(self, list(urls), session, config=self.settings.fetch,
                                            force=force, on_event=on_event, on_progress=on_progress)

    def _ingest_paths(self, paths: list[Path], *, overrides: dict | None = None,
                      on_progress=None) -> IngestReport:
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
                    src = self._store_articles(shown_path(file), result.articles)
                    src.errors.extend(result.errors)
                    report.sources.append(src)
            self._embed_missing(report, on_progress)
        report.elapsed_s = time.perf_counter() - start
        return report

    def _store_articles(self, origin: str, articles: list[Article]) -> SourceReport:
        src = SourceReport(origin)
        for article in articles:
            passages = split_article(article)
            if not passages:
                src.errors.append(f"{origin}: article {article.id!r} has no text after cleaning")
                continue
            res = self.store.upsert_article(article, passages, origin=origin)
            setattr(src, res.status, getattr(src, res.status) + 1)
            src.passages_added += res.passages_added
        self.store.log_ingest(origin, src.status, added=src.added, updated=src.updated, skipped=src.unchanged,
                              passages=src.passages_added, detail="; ".join(src.errors)[:2000] or None)
        return src

    def _embed_missing(self, report: IngestReport, on_progress) -> None:
        """After an ingest: the store's changes since the last sync (its change feed, not a
        comparison of every id) into each part, one pass, one save each."""
        if self._index is None:
            sync = self._load_and_sync(on_progress)
        else:
            changes = self.store.changes_since(self._seq)
            parts = Parts(self._index, self._sparse, self._sentences)
            sync = catch_up(parts, changes.added, changes.removed, self.store.passages, self.encoder,
                            mode=self.settings.sentence_vectors, on_progress=on_progress)
            fresh = changes.added | changes.redated
            self._days = self._days.patched(changes.removed, *self.store.passage_days(fresh))
            self._seq = changes.seq
            self._dates = self._corpus_dates()
        report.embedded += sync.added
        report.removed += sync.removed
        self._generation = self.store.generation()

    # -- questions -------------------------------------------------------------------------

    def retriever(self) -> Retriever:
        index = self.ensure_ready()
        try:
            aliases = default_table(str(self.settings.alias_file) if self.settings.alias_file else None)
        except AliasError as exc:
            raise ServiceError(str(exc)) from None
        with self._lock:  # writers sync under this lock: the snapshot is whole
            sparse = self._sparse.snapshot() if self._sparse is not None else None
            first, last = self._dates
        try:
            return Retriever(self.store, index, self.encoder, sparse=sparse, sentences=self._sentences,
                             aliases=aliases, config=self.settings.search, anchor=last, first=first,
                             days=self._days)
        except ValueError as exc:
            raise ServiceError(f"bad retrieval setting: {exc}") from None

    def ask(self, question: str, *, k: int | None = None, since: str | None = None, until: str | None = None,
            offset: int = 0, with_best_sentence: bool = True, mode: str | None = None,
            diverse: bool = True, checked: bool = False) -> Answer:
        """Answer from the roundups. `mode` overrides the retrieval setting (dense, bm25, hybrid);
        `diverse=False` lets one roundup fill the top three (when a member asks for more of it).
        The question is checked here once (`checked=True`: the caller already did, at its edge)."""
        if not checked:
            question = check_question(question)
        return self.retriever().search(question, k=k or self.settings.top_k, since=since, until=until,
                                       offset=offset, mode=mode, diverse=diverse,
                                       best_sentence=with_best_sentence, checked=True)

    # -- digests and trends -----------------------------------------------------------------

    def topic(self, text: str) -> Topic:
        """A name the corpus uses is matched by name (so "Huawei" keeps only Huawei); anything
        else by meaning, above `digest_topic_floor`. Cached per corpus generation."""
        text = check_topic(text)
        matcher = mention_matcher(text)
        key = (self.store.generation(), text)
        cached = self._topics.get(key)
        if cached is None:
            named = any(matcher(r[0]) for r in self.store.execute("SELECT text FROM passages"))
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
               topic: str | None = None) -> Period:
        """Default: the latest week with roundups, or for a topic every roundup. Raises PeriodError."""
        counts = self.store.counts()
        if not period and not since and not until:
            period = "all" if topic else "latest"
        return parse_period(period, since=since, until=until, newest=counts["last"], oldest=counts["first"])

    def digest(self, period: str | None = None, topic: str | None = None, items: int | None = None,
               since: str | None = None, until: str | None = None) -> Digest:
        """An extractive digest of a period (optionally on a topic): see digests/summary.py."""
        topic = check_topic(topic)
        items = check_items(items, self.settings.digest_items)
        index = self.ensure_ready()
        counts = self.store.counts()
        span = self.period(period, since=since, until=until, topic=topic)
        passages = self.store.passages(self.store.passage_ids_between(span.since, span.until))
        vectors = index.vectors([p.id for p in passages])
        return summarise(passages, vectors, self.sentence_vectors, span,
                         topic=self.topic(topic) if topic else None, options=DigestOptions(items=items),
                         coverage=(counts["first"], counts["last"]))

    def trend(self, name: str, *, chart: bool = True) -> Trend:
        """Passages mentioning `name` per month over the whole corpus, with a PNG bar chart."""
        topic = self.topic(name)
        index = self.ensure_ready()
        counts = self.store.counts()
        if topic.matcher is not None:
            rows = self.store.execute("SELECT id, text FROM passages")
            ids = [r[0] for r in rows if topic.matcher(r[1])]
        else:
            ids = [i for i, score in index.search(topic.vector, len(index)) if score >= topic.floor]
        trend = monthly_trend(topic.text, topic.mode, self.store.passages(ids), (counts["first"], counts["last"]))
        if chart and trend.total:
            from bot.charts import trend_png

            trend = dataclasses.replace(trend, png=trend_png(trend))
        return trend

    # -- what we know ----------------------------------------------------------------------

    def status(self) -> dict:
        counts = self.store.counts()
        return {
            "data_dir": str(self.settings.data_dir),
            "articles": counts["articles"], "passages": counts["passages"],
            "first_published": counts["first"], "last_published": counts["last"],
            "model": self.settings.encoder.model, "index": self._index_status(),
            "sources": [{"source": s, "articles": n} for s, n in self.store.sources()],
            "last_ingest": self.store.last_ingest(),
        }

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
        info["retrieval"] = self.settings.search.mode
        return info

    # -- timelines and the corpus's best-known names (additive: /timeline, /help) -------------------

    def known_names(self):
        """Alias-table names by how many roundups mention them, cached per corpus generation."""
        from bot.timeline import known_names

        key = self.store.generation()
        cached = getattr(self, "_known_names", None)
        if cached is None or cached[0] != key:
            rows = self.store.execute(
                "SELECT article_id, group_concat(coalesce(section, '') || ' ' || text, ' ') AS t "
                "FROM passages GROUP BY article_id")
            aliases = default_table(str(self.settings.alias_file) if self.settings.alias_file else None)
            cached = self._known_names = (key, known_names([r["t"] for r in rows], aliases))
        return cached[1]

    def timeline(self, name: str, *, since: str | None = None, until: str | None = None):
        """What the roundups said about `name`, one entry per roundup in date order (bot/timeline.py)."""
        from bot.timeline import Timeline, build_entries, canonical_name, suggest

        typed = check_topic(name)
        if not typed:
            raise ServiceError("give a name, e.g. Huawei")
        aliases = default_table(str(self.settings.alias_file) if self.settings.alias_file else None)
        canonical = canonical_name(typed, aliases)
        self.ensure_ready()
        passages = self.store.passages(self.store.passage_ids_between(since, until))
        entries = build_entries(passages, self.sentence_vectors.many, self.encoder.encode_query(canonical)[0],
                                mention_matcher(canonical))
        out = Timeline(canonical, typed, entries, since, until)
        if not entries:
            out.suggestions = [n for n in suggest(canonical, self.known_names()) if n.lower() != canonical.lower()]
        return out
