"""SQLite store: the source of truth. Every index is a cache that can be rebuilt from it.

The schema changes by numbered migration steps, never by editing a step once released: the
store's own steps (`STEPS`) are counted in `PRAGMA user_version`; a component above the store
that keeps tables in the same file (feeds, dedup bands, bot state...) registers its own steps
with `Store.migrate(component, steps)`, counted in the `schema_versions` table. Each step runs
in its own transaction; a file written by a newer version of the code is refused in one line.
"""
from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np

from corpus.errors import RoundupError
from corpus.model import Article, Passage

log = logging.getLogger(__name__)

# Steps stay idempotent (IF NOT EXISTS): two processes opening a new file at once may both run one.
# Version 1: what the store was before migrations (its DDL is idempotent, so a version-1 file,
# which has user_version 0, takes step 1 as a no-op). Append steps; never edit a released one.
_V1 = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    published TEXT,
    source TEXT,
    date_estimated INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT NOT NULL,
    origin TEXT,
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    section TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id, position);
CREATE TABLE IF NOT EXISTS ingest_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    articles_added INTEGER NOT NULL DEFAULT 0,
    articles_updated INTEGER NOT NULL DEFAULT 0,
    articles_skipped INTEGER NOT NULL DEFAULT 0,
    passages_added INTEGER NOT NULL DEFAULT 0,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');
"""

# Version 2: per-component schema versions (see `Store.migrate`), the ingest log indexed by
# source, and user_version as the one record of the store's version (the meta row goes).
_V2 = """
DELETE FROM meta WHERE key = 'schema_version';
CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_log_source ON ingest_log(source, id);
"""

# Version 3: who each article belongs to, one row per owner. SHARED is the operator's corpus
# (every server and DMs see it), SAMPLE the bundled sample (shared unless switched off), a
# positive id a Discord server. An article two servers added is stored once with two rows;
# it goes when its last owner lets go of it. Articles stored before owners existed: the
# bundled sample by where it was read from, the rest shared.
_V3 = """
CREATE TABLE IF NOT EXISTS article_owners (
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    owner INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (article_id, owner)
);
CREATE INDEX IF NOT EXISTS article_owners_owner ON article_owners(owner, article_id);
INSERT OR IGNORE INTO article_owners(article_id, owner, added_at)
SELECT a.id, CASE WHEN a.origin LIKE '%/corpus/data/%' OR a.origin LIKE 'corpus/data/%' THEN -1 ELSE 0 END,
       a.ingested_at
FROM articles a WHERE NOT EXISTS (SELECT 1 FROM article_owners o WHERE o.article_id = a.id);
"""
SHARED = 0
SAMPLE = -1

# Version 4: a change feed of passages, written by triggers, so an index catches up on what
# changed since the sequence number it last saw instead of comparing every id (op 1 added,
# 0 removed, 2 its article's metadata changed, e.g. the date).
_V4 = """
CREATE TABLE IF NOT EXISTS passage_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    passage_id INTEGER NOT NULL,
    op INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS passage_added AFTER INSERT ON passages
BEGIN INSERT INTO passage_changes(passage_id, op) VALUES (NEW.id, 1); END;
CREATE TRIGGER IF NOT EXISTS passage_removed AFTER DELETE ON passages
BEGIN INSERT INTO passage_changes(passage_id, op) VALUES (OLD.id, 0); END;
CREATE TRIGGER IF NOT EXISTS article_redated AFTER UPDATE OF published ON articles
WHEN OLD.published IS NOT NEW.published
BEGIN INSERT INTO passage_changes(passage_id, op) SELECT id, 2 FROM passages WHERE article_id = NEW.id; END;
"""

STEPS: tuple[str, ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(STEPS)
_COMPONENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")

_PASSAGE_SELECT = """
SELECT p.id, p.article_id, p.position, p.section, p.text, a.title, a.url, a.published, a.source
FROM passages p JOIN articles a ON a.id = p.article_id
"""


class StoreError(RoundupError):
    """A store problem worth one clear line to the user (unwritable directory, corrupt file)."""


NO_DAY = np.iinfo(np.int32).min  # an undated passage: outside every date bound, as in SQL


def day_number(published: str | None) -> int:
    """Days since 0001-01-01 of an ISO date (its first 10 characters), NO_DAY if absent or bad."""
    if not published:
        return int(NO_DAY)
    try:
        return date.fromisoformat(published[:10]).toordinal()
    except ValueError:
        return int(NO_DAY)


@dataclass(frozen=True)
class PassageChanges:
    added: set[int]
    removed: set[int]
    redated: set[int]
    seq: int

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.redated)


@dataclass(frozen=True)
class UpsertResult:
    status: str  # "added" | "updated" | "unchanged"
    passages_added: int
    passages_removed: int


def utcnow() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def article_fingerprint(article: Article, passages: list[Passage]) -> str:
    """What decides 'this article changed': its metadata and the ids of its passages."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for part in (article.title, article.url, article.published or "", article.source or ""):
        h.update(part.encode("utf-8") + b"\x1f")
    for p in passages:
        h.update(f"{p.id}:{p.position}:{p.section or ''}".encode("utf-8") + b"\x1e")
    return h.hexdigest()


class Store:
    """Thread-safe wrapper over one SQLite connection (WAL, foreign keys on).

    One connection guarded by a lock keeps writes serial, which SQLite wants anyway, and lets
    the Discord bot call the store from worker threads.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._lock = threading.RLock()
            self._components: dict[str, int] = {}
            self._migrate_store()
        except StoreError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {self.path.parent}: {exc.strerror}") from exc

    def schema_version(self) -> int:
        return int(self.execute("PRAGMA user_version")[0][0])

    def _migrate_store(self) -> None:
        current = self.schema_version()
        _refuse_newer(self.path, "store", current, len(STEPS))
        for number in range(current + 1, len(STEPS) + 1):
            self._apply(STEPS[number - 1], f"PRAGMA user_version = {number}")
            log.info("store %s: schema migrated to version %d", self.path, number)

    def migrate(self, component: str, steps: tuple[str, ...] | list[str]) -> int:
        """Bring `component`'s tables up to `len(steps)`, applying the missing steps in order.

        Components call this each time they are built: after the first call it costs nothing.
        Returns the component's schema version.
        """
        if not _COMPONENT_RE.match(component):
            raise ValueError(f"bad component name {component!r}")
        with self._lock:
            if self._components.get(component) == len(steps):
                return len(steps)
            rows = self.execute("SELECT version FROM schema_versions WHERE component = ?", (component,))
            current = rows[0][0] if rows else 0
            _refuse_newer(self.path, component, current, len(steps))
            for number in range(current + 1, len(steps) + 1):
                self._apply(steps[number - 1], f"INSERT INTO schema_versions(component, version) "
                                               f"VALUES ('{component}', {number}) ON CONFLICT(component) "
                                               f"DO UPDATE SET version = excluded.version")
            self._components[component] = len(steps)
            return len(steps)

    def _apply(self, step: str, record: str) -> None:
        """One migration step and the statement recording it, in one transaction.

        Written as one script because sqlite3's executescript commits any open transaction first.
        """
        with self._lock:
            try:
                self._conn.executescript(f"BEGIN IMMEDIATE;\n{step}\n;{record};\nCOMMIT;")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    # -- articles and passages -------------------------------------------------------------

    def upsert_article(self, article: Article, passages: list[Passage], *, origin: str | None = None,
                       owners: Iterable[int] = (SHARED,)) -> UpsertResult:
        """Store an article with its passages and owners in one transaction; unchanged articles
        cost one read (and gain any owner they did not have yet)."""
        fp = article_fingerprint(article, passages)
        owners = tuple(owners) or (SHARED,)
        with self.transaction() as conn:
            row = conn.execute("SELECT fingerprint FROM articles WHERE id = ?", (article.id,)).fetchone()
            if row is not None and row["fingerprint"] == fp:
                if _add_owners(conn, [article.id], owners):
                    _bump_generation(conn)
                return UpsertResult("unchanged", 0, 0)
            conn.execute(
                """INSERT INTO articles(id, title, url, published, source, date_estimated, fingerprint, origin, ingested_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET title=excluded.title, url=excluded.url,
                     published=excluded.published, source=excluded.source,
                     date_estimated=excluded.date_estimated, fingerprint=excluded.fingerprint,
                     origin=excluded.origin, ingested_at=excluded.ingested_at""",
                (article.id, article.title, article.url, article.published, article.source,
                 int(article.date_estimated), fp, origin, utcnow()),
            )
            old = {r["id"] for r in conn.execute("SELECT id FROM passages WHERE article_id = ?", (article.id,))}
            new = {p.id for p in passages}
            stale = old - new
            conn.executemany("DELETE FROM passages WHERE id = ?", [(i,) for i in stale])
            added = 0
            for p in passages:
                if p.id in old:
                    conn.execute(
                        "UPDATE passages SET position = ?, section = ? WHERE id = ?", (p.position, p.section, p.id)
                    )
                    continue
                # Ids hash (article, text), so a clash means this exact passage is already stored.
                cur = conn.execute(
                    "INSERT OR IGNORE INTO passages(id, article_id, position, section, text) VALUES (?, ?, ?, ?, ?)",
                    (p.id, article.id, p.position, p.section, p.text),
                )
                added += cur.rowcount
            _add_owners(conn, [article.id], owners)
            status = "updated" if row is not None else "added"
            _bump_generation(conn)
        return UpsertResult(status, added, len(stale))

    def delete_article(self, article_id: str) -> int:
        with self.transaction() as conn:
            n = conn.execute("SELECT COUNT(*) FROM passages WHERE article_id = ?", (article_id,)).fetchone()[0]
            conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
            _bump_generation(conn)
        return n

    def generation(self) -> int:
        """A counter bumped by every change to passages: lets another process notice an ingest."""
        return int(self.get_meta("generation", "0") or 0)

    def change_seq(self) -> int:
        """The newest change-feed number: read it before a full comparison, catch up from it after."""
        # AUTOINCREMENT's counter: the highest number ever given, still there when pruning emptied the feed
        rows = self.execute("SELECT seq FROM sqlite_sequence WHERE name = 'passage_changes'")
        return int(rows[0][0]) if rows else 0

    def changes_since(self, seq: int) -> PassageChanges:
        """Passages added, removed and re-dated after `seq` (each id's last change wins), read
        from the change feed's index: the cost follows the changes, not the store's size."""
        rows = self.execute("SELECT seq, passage_id, op FROM passage_changes WHERE seq > ? ORDER BY seq", (seq,))
        last: dict[int, int] = {}
        redated: set[int] = set()
        for _, pid, op in rows:
            if op == 2:
                redated.add(pid)
            else:
                last[pid] = op
        added = {i for i, op in last.items() if op == 1}
        removed = {i for i, op in last.items() if op == 0}
        return PassageChanges(added=added, removed=removed, redated=redated - added - removed,
                              seq=rows[-1][0] if rows else seq)

    def feed_covers(self, seq: int) -> bool:
        """Whether `changes_since(seq)` names every change after `seq`: not if `seq` is unknown
        (negative), older than what `prune_changes` dropped, or newer than the feed (another
        database put in place of this one)."""
        if seq < 0:
            return False
        pruned = int(self.get_meta("changes_pruned_through", "0") or 0)
        return pruned <= seq <= self.change_seq()

    def prune_changes(self, keep: int) -> int:
        """Drop all but the newest `keep` change-feed rows; a reader behind them falls back to a
        full comparison (`feed_covers`). Returns the rows dropped."""
        newest = self.change_seq()
        through = newest - max(0, int(keep))
        if through <= int(self.get_meta("changes_pruned_through", "0") or 0):
            return 0
        with self.transaction() as conn:
            dropped = conn.execute("DELETE FROM passage_changes WHERE seq <= ?", (through,)).rowcount
            conn.execute("INSERT INTO meta(key, value) VALUES ('changes_pruned_through', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(through),))
        return int(dropped)

    def passage_days(self, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, publication day numbers) as arrays, sorted by id; an undated passage gets NO_DAY.
        One query for all (at load) or for the given ids (after a change)."""
        sql = "SELECT p.id, a.published FROM passages p JOIN articles a ON a.id = p.article_id"
        rows: list = []
        if ids is None:
            rows = self.execute(sql)
        else:
            ids = list(ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows += self.execute(sql + f" WHERE p.id IN ({','.join('?' * len(chunk))})", chunk)
        out_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        known: dict[str | None, int] = {}  # a few thousand distinct dates for 100k passages
        days = np.fromiter((known[r[1]] if r[1] in known else known.setdefault(r[1], day_number(r[1]))
                            for r in rows), dtype=np.int32, count=len(rows))
        order = np.argsort(out_ids, kind="stable")
        return out_ids[order], days[order]

    def passage_ids(self) -> set[int]:
        return {r[0] for r in self.execute("SELECT id FROM passages")}

    def passages(self, ids: Iterable[int] | None = None) -> list[Passage]:
        """Passages by id (in the order asked), or all of them in article/position order."""
        if ids is None:
            rows = self.execute(_PASSAGE_SELECT + " ORDER BY a.published, a.id, p.position")
            return [_row_to_passage(r) for r in rows]
        ids = list(ids)
        found: dict[int, Passage] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.execute(_PASSAGE_SELECT + f" WHERE p.id IN ({marks})", chunk):
                found[r["id"]] = _row_to_passage(r)
        return [found[i] for i in ids if i in found]

    def passage_ids_between(self, since: str | None, until: str | None) -> list[int]:
        """Ids of passages whose article was published in [since, until] (inclusive dates)."""
        sql = "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE 1=1"
        params: list[str] = []
        if since:
            sql += " AND a.published >= ?"
            params.append(since)
        if until:
            sql += " AND a.published <= ?"
            params.append(until)
        return [r[0] for r in self.execute(sql, params)]

    def articles(self) -> list[sqlite3.Row]:
        return self.execute(
            """SELECT a.*, (SELECT COUNT(*) FROM passages p WHERE p.article_id = a.id) AS passages
               FROM articles a ORDER BY a.published DESC, a.id"""
        )

    def counts(self, owners: Collection[int] | None = None) -> dict:
        """Articles, passages and the published range; of `owners`' articles only when given."""
        if owners is None:
            row = self.execute(
                """SELECT (SELECT COUNT(*) FROM articles) AS articles, (SELECT COUNT(*) FROM passages) AS passages,
                          (SELECT MIN(published) FROM articles) AS first,
                          (SELECT MAX(published) FROM articles) AS last"""
            )[0]
            return dict(row)
        clause, params = owned_by("a.id", owners)
        row = self.execute(
            f"""SELECT COUNT(*) AS articles, COALESCE(SUM((SELECT COUNT(*) FROM passages p WHERE p.article_id = a.id)), 0)
                       AS passages, MIN(a.published) AS first, MAX(a.published) AS last
                FROM articles a WHERE {clause}""", params)[0]
        return dict(row)

    def sources(self, owners: Collection[int] | None = None) -> list[tuple[str, int]]:
        clause, params = ("1=1", []) if owners is None else owned_by("a.id", owners)
        rows = self.execute(
            f"""SELECT COALESCE(source, 'unknown') AS s, COUNT(*) AS n FROM articles a WHERE {clause}
                GROUP BY s ORDER BY n DESC, s""", params)
        return [(r["s"], r["n"]) for r in rows]

    # -- owners, visibility and removal ------------------------------------------------------

    def grant(self, article_ids: Iterable[str], owner: int) -> int:
        """Give `owner` articles already stored (a server following a feed another server reads)."""
        ids = list(dict.fromkeys(article_ids))
        added = 0
        with self.transaction() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                present = [r[0] for r in conn.execute(
                    f"SELECT id FROM articles WHERE id IN ({','.join('?' * len(chunk))})", chunk)]
                added += _add_owners(conn, present, (owner,))
            if added:
                _bump_generation(conn)
        return added

    def grant_urls(self, urls: Iterable[str], owner: int) -> int:
        """`grant` by article address (the originals of republished copies a server's feed carried)."""
        urls = list(dict.fromkeys(u for u in urls if u))
        ids: list[str] = []
        for start in range(0, len(urls), 500):
            chunk = urls[start:start + 500]
            ids += [r[0] for r in self.execute(f"SELECT id FROM articles WHERE url IN ({','.join('?' * len(chunk))})",
                                               chunk)]
        return self.grant(ids, owner) if ids else 0

    def owners(self, article_id: str) -> set[int]:
        return {r[0] for r in self.execute("SELECT owner FROM article_owners WHERE article_id = ?", (article_id,))}

    def owner_ids(self) -> set[int]:
        return {r[0] for r in self.execute("SELECT DISTINCT owner FROM article_owners")}

    def visible_passage_ids(self, owners: Collection[int]) -> set[int]:
        """Passages of articles at least one of `owners` owns."""
        clause, params = owned_by("p.article_id", owners)
        return {r[0] for r in self.execute(f"SELECT p.id FROM passages p WHERE {clause}", params)}

    def find_articles(self, *, url: str | None = None, source: str | None = None, before: str | None = None,
                      owner: int | None = None) -> list[sqlite3.Row]:
        """Articles matching every filter given: `url` is an article's address or the feed or page
        it came from, `source` a source name (any case), `before` a date they were published
        before, `owner` one owner's articles only. Each row has `owners` (comma-separated)."""
        sql = ["SELECT a.id, a.title, a.url, a.published, a.source, a.origin,",
               "(SELECT COUNT(*) FROM passages p WHERE p.article_id = a.id) AS passages,",
               "(SELECT group_concat(o.owner) FROM article_owners o WHERE o.article_id = a.id) AS owners",
               "FROM articles a WHERE 1=1"]
        params: list = []
        if url is not None:
            sql.append("AND (a.url = ? OR a.origin = ?)")
            params += [url, url]
        if source is not None:
            sql.append("AND lower(COALESCE(a.source, 'unknown')) = lower(?)")
            params.append(source)
        if before is not None:
            sql.append("AND a.published < ?")
            params.append(before)
        if owner is not None:
            clause, owner_params = owned_by("a.id", (owner,))
            sql.append("AND " + clause)
            params += owner_params
        sql.append("ORDER BY a.published, a.id")
        return self.execute(" ".join(sql), params)

    def remove_articles(self, article_ids: Iterable[str], *, owner: int | None = None,
                        batch: int = 100) -> tuple[int, int]:
        """Take articles out: all of them (`owner` None), or only `owner`'s claim on them, deleting
        those nobody else owns. Commits in batches, so a kill leaves a consistent store with part
        of the work done. Returns (articles deleted, passages deleted)."""
        ids = list(dict.fromkeys(article_ids))
        deleted = passages = 0
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            marks = ",".join("?" * len(chunk))
            with self.transaction() as conn:
                if owner is not None:
                    conn.execute(f"DELETE FROM article_owners WHERE owner = ? AND article_id IN ({marks})",
                                 [owner, *chunk])
                    chunk = [r[0] for r in conn.execute(
                        f"""SELECT id FROM articles a WHERE id IN ({marks})
                            AND NOT EXISTS (SELECT 1 FROM article_owners o WHERE o.article_id = a.id)""", chunk)]
                    marks = ",".join("?" * len(chunk))
                if chunk:
                    passages += conn.execute(f"SELECT COUNT(*) FROM passages WHERE article_id IN ({marks})",
                                             chunk).fetchone()[0]
                    deleted += conn.execute(f"DELETE FROM articles WHERE id IN ({marks})", chunk).rowcount
                _bump_generation(conn)
        return deleted, passages

    # -- ingest log and small key/value state -------------------------------------------

    def log_ingest(self, source: str, status: str, *, added: int = 0, updated: int = 0, skipped: int = 0,
                   passages: int = 0, detail: str | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO ingest_log(at, source, status, articles_added, articles_updated, articles_skipped,
                                          passages_added, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (utcnow(), source, status, added, updated, skipped, passages, detail),
            )

    def last_ingest(self) -> dict | None:
        rows = self.execute("SELECT * FROM ingest_log ORDER BY id DESC LIMIT 1")
        return dict(rows[0]) if rows else None

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self.execute("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                         (key, value))

    def get_json(self, key: str, default=None):
        raw = self.get_meta(key)
        return default if raw is None else json.loads(raw)

    def set_json(self, key: str, value) -> None:
        self.set_meta(key, json.dumps(value, sort_keys=True))


def owned_by(column: str, owners: Collection[int]) -> tuple[str, list[int]]:
    """SQL that keeps rows whose article (`column`) one of `owners` owns, and its parameters."""
    owners = sorted(set(owners))
    if not owners:
        return "0", []
    marks = ",".join("?" * len(owners))
    return (f"EXISTS (SELECT 1 FROM article_owners o WHERE o.article_id = {column} AND o.owner IN ({marks}))",
            owners)


def _add_owners(conn: sqlite3.Connection, article_ids: list[str], owners: Iterable[int]) -> int:
    now = utcnow()
    rows = [(a, o, now) for a in article_ids for o in owners]
    before = conn.total_changes
    conn.executemany("INSERT OR IGNORE INTO article_owners(article_id, owner, added_at) VALUES (?, ?, ?)", rows)
    return conn.total_changes - before


def _refuse_newer(path: Path, what: str, found: int, known: int) -> None:
    if found > known:
        raise StoreError(f"the store at {path} has {what} schema version {found}, newer than this roundup-bot "
                         f"knows ({known}): upgrade roundup-bot or choose another --data-dir")


def _bump_generation(conn: sqlite3.Connection) -> None:
    conn.execute(
        """INSERT INTO meta(key, value) VALUES ('generation', '1')
           ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"""
    )


def _row_to_passage(r: sqlite3.Row) -> Passage:
    return Passage(
        id=r["id"], article_id=r["article_id"], position=r["position"], section=r["section"], text=r["text"],
        title=r["title"], url=r["url"], published=r["published"], source=r["source"],
    )
