"""Extractive multi-document digest: cluster a period's passages, quote each cluster's centre.

No generative model runs offline, and an extractive line can always be traced to its roundup:
every sentence of a digest is a sentence of a stored passage, cited with its article. The steps
are pure functions over passages and their stored vectors (nothing is re-encoded but the few
candidate sentences): pick the passages (a topic keeps those about it), cluster them (spherical
k-means, fixed seed), rank clusters by size and recency, take the one or two sentences nearest
each cluster's centre, skip near-duplicates across items (MMR), label each item with its names.
`summarise` runs these as named stages (period_rows, topic_filter, cluster_passages,
ranked_candidates, draft_items, build_item), each callable alone.
"""
from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

import faiss
import numpy as np

from corpus.errors import InputError
from corpus.mentions import NameVocabulary, capitalised_names
from corpus.model import Passage
from corpus.text import normalize_text, split_sentences, word_count
from digests.periods import Period

log = logging.getLogger(__name__)

Encode = Callable[[list[str]], np.ndarray]

MAX_TOPIC_CHARS = 100
MAX_ITEMS = 10


class DigestError(InputError, ValueError):
    """Digest arguments we refuse, with a message fit to show the user as is."""


def check_topic(topic: str | None) -> str | None:
    """None for no topic; else the topic with its spaces tidied, or a DigestError saying why not."""
    if topic is None:
        return None
    t = " ".join(topic.split())
    if not t:
        raise DigestError("the topic is empty: name a company or a subject, e.g. Huawei")
    if len(t) > MAX_TOPIC_CHARS:
        raise DigestError(f"the topic is {len(t)} characters long; the limit is {MAX_TOPIC_CHARS}")
    if not re.search(r"\w", t):
        raise DigestError(f"the topic {t!r} has no letters or digits")
    return t


def check_items(items: int | None, default: int = 5) -> int:
    if items is None:
        return default
    if not isinstance(items, int) or isinstance(items, bool) or not 1 <= items <= MAX_ITEMS:
        raise DigestError(f"choose between 1 and {MAX_ITEMS} items, not {items!r}")
    return items


# -- values ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class DigestSource:
    title: str
    url: str
    published: str | None

    def to_dict(self) -> dict:
        return {"title": self.title, "url": self.url, "published": self.published}


@dataclass(frozen=True)
class DigestItem:
    """One theme: a short label, one or two quoted sentences, the roundups they come from."""

    label: str
    sentences: tuple[str, ...]
    sources: tuple[DigestSource, ...]
    passage_ids: tuple[int, ...] = field(default=(), compare=False)
    weight: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict:
        return {"label": self.label, "sentences": list(self.sentences),
                "sources": [s.to_dict() for s in self.sources]}


@dataclass(frozen=True)
class Digest:
    period: Period
    items: tuple[DigestItem, ...]
    topic: str | None = None
    topic_mode: str | None = None  # "name" (passages mentioning it) or "meaning" (similar to it)
    note: str | None = None  # why there is nothing to show
    coverage: tuple[str | None, str | None] = (None, None)
    passages: int = 0  # passages the digest was drawn from
    articles: int = 0

    @property
    def empty(self) -> bool:
        return not self.items

    def to_dict(self) -> dict:
        out = {
            "period": {**self.period.to_dict(), "label": self.period.label},
            "topic": self.topic,
            "topic_mode": self.topic_mode,
            "items": [i.to_dict() for i in self.items],
            "passages": self.passages,
            "articles": self.articles,
            "coverage": {"first": self.coverage[0], "last": self.coverage[1]},
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Topic:
    """What a topic digest keeps: passages naming it (when it is a name the corpus uses), else
    passages whose meaning is close to it."""

    text: str
    vector: np.ndarray
    matcher: Callable[[str], bool] | None = None
    floor: float = 0.35

    @property
    def mode(self) -> str:
        return "name" if self.matcher is not None else "meaning"


@dataclass(frozen=True)
class DigestOptions:
    items: int = 5
    max_sentences: int = 2
    # Sentence cosine at or above which two sentences say the same thing. Measured on the two
    # versions of the 2019-11-03 roundup: reworded pairs score 0.75-0.92, related but distinct
    # sentences 0.60-0.74.
    duplicate_cosine: float = 0.75
    # Passages this close are copies of one story (a republished roundup): they count once.
    passage_duplicate_cosine: float = 0.85
    passages_per_cluster: int = 5  # candidates for central sentences: bounds the encoding cost
    min_words: int = 6
    max_words: int = 45
    max_item_chars: int = 600
    mmr_lambda: float = 0.7
    # News paragraphs lead with their point: a passage's first sentence gets this much extra.
    lead_bonus: float = 0.03
    seed: int = 1234


# -- steps ----------------------------------------------------------------------------------

def cluster_count(n: int, items: int) -> int:
    """k grows like sqrt(2n), never under the items asked for (small clusters can then be left out)."""
    if n <= 0:
        return 0
    return min(n, max(items, round(math.sqrt(2 * n))))


def cluster_labels(vectors: np.ndarray, k: int, *, seed: int = 1234) -> np.ndarray:
    """Spherical k-means (faiss, fixed seed, several restarts): a cluster number for each row."""
    n = len(vectors)
    if k >= n:
        return np.arange(n)
    if k <= 1:
        return np.zeros(n, dtype=np.int64)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=25, nredo=5, seed=seed, spherical=True, verbose=False,
                      min_points_per_centroid=1, max_points_per_centroid=10_000_000)
    km.train(x)
    _, labels = km.index.search(x, 1)
    return labels.reshape(-1).astype(np.int64)


def duplicate_weights(vectors: np.ndarray, articles: Sequence[str], threshold: float) -> np.ndarray:
    """1 / (copies of this passage across articles): a story told twice does not count double."""
    sims = vectors @ vectors.T
    same_article = np.array([[a == b for b in articles] for a in articles], dtype=bool)
    copies = ((sims >= threshold) & ~same_article).sum(axis=1)
    return 1.0 / (1.0 + copies)


@dataclass
class Cluster:
    members: list[int]  # row numbers into the period's passages
    weight: float
    newest: str
    score: float
    centroid: np.ndarray


def rank_clusters(labels: np.ndarray, vectors: np.ndarray, weights: np.ndarray,
                  passages: Sequence[Passage], period: Period) -> list[Cluster]:
    """Bigger first, and among clusters of like size the more recent: size counts whole units,
    recency adds under one, so it only reorders clusters of near-equal weight."""
    lo, hi = date.fromisoformat(period.since), date.fromisoformat(period.until)
    span = max(1, (hi - lo).days + 1)
    clusters = []
    for label in sorted(set(labels.tolist())):
        members = [i for i in range(len(labels)) if labels[i] == label]
        weight = float(sum(weights[i] for i in members))
        newest = max((passages[i].published or period.since) for i in members)
        recency = min(max((date.fromisoformat(newest) - lo).days, 0), span - 1) / span
        centroid = (vectors[members] * weights[members, None]).sum(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        clusters.append(Cluster(members, weight, newest, weight + recency, centroid))
    # Ties (a week of one roundup: every passage its own cluster) keep the article's own order.
    clusters.sort(key=lambda c: (-c.score, min((passages[i].article_id, passages[i].position) for i in c.members)))
    return clusters


@dataclass(frozen=True)
class NameStats:
    """Which names each passage mentions, and in how many of the period's passages each occurs."""

    per_passage: dict[int, frozenset[str]]  # passage id -> names
    df: Counter  # name -> articles mentioning it: a long story told in one article is still rare
    docs: int  # articles
    vocab: NameVocabulary
    own: dict[int, frozenset[str]]  # passage id -> words of its publication's name


def name_stats(passages: Sequence[Passage]) -> NameStats:
    """Names are counted over the whole period, so a topic digest still knows which are rare.

    The publication's own name ("TechCrunch", "Tech in Asia") is not a theme of its passages.
    """
    vocab = NameVocabulary.of(p.text for p in passages)
    per: dict[int, frozenset[str]] = {}
    own: dict[int, frozenset[str]] = {}
    by_article: dict[str, set[str]] = {}
    for p in passages:
        own[p.id] = frozenset(w.lower() for w in re.findall(r"\w+", p.source or ""))
        found = capitalised_names(p.text, vocab)
        per[p.id] = frozenset(n for n in found if not _is_own(n, own[p.id]))
        by_article.setdefault(p.article_id, set()).update(found)  # rarity counts every use, own or not
    df: Counter = Counter()
    for names in by_article.values():
        df.update(names)
    return NameStats(per, df, len(by_article), vocab, own)


def _is_own(name: str, own: frozenset[str]) -> bool:
    return all(w.lower() in own for w in name.split())


def _names(text: str, vocab: NameVocabulary, own: frozenset[str]) -> list[str]:
    return [n for n in capitalised_names(text, vocab) if not _is_own(n, own)]


# Capitalised words that name no theme: nationalities, numbers, currencies, institutions in general.
_GENERIC_WORDS = frozenset(
    """chinese american japanese korean swedish british european russian indian german french taiwanese
    singaporean malaysian australian canadian western asian global international foreign national state
    government ministry research industry technology tech company companies group startup startups app apps
    internet mobile online digital news report reports brief roundup digest highlights summary notes top
    stories headlines other quick bits more also worth reading must-read case missed week weeks today yesterday
    rmb yuan dollar dollars percent billion million two three four five six seven eight nine ten eleven twelve
    ceo cfo cto founder chairman president url urls link links website websites
    china""".split()  # China: every item of a China roundup is about China
)


def generic_label(text: str) -> bool:
    """True for a label that says nothing: stopwords, months, "This week", "Chinese", "Two"."""
    words = re.findall(r"[\w'.-]+", text.lower())
    if not words:
        return True
    from corpus.mentions import COMMON_WORDS

    return all(w.strip(".'-") in COMMON_WORDS or w.strip(".'-") in _GENERIC_WORDS for w in words)


def _alias_names() -> frozenset[str]:
    from corpus.aliases import default_table

    return frozenset(n for group in default_table().groups() for n in group)


def theme_label(members: Sequence[Passage], quoted: Sequence[tuple[str, int]], stats: NameStats, *,
                topic: Topic | None = None, max_names: int = 2, max_chars: int = 40) -> str:
    """The names the quoted sentences are about, weighted by how often the cluster mentions them
    and how rare they are in the period (a name from the alias table counts double); else the
    cluster's section heading unless it is generic ("This week"), else its title.

    A name in most of the period's articles ("Chinese" in China roundups) tells nothing, nor
    does a generic word, nor a topic digest's own topic.
    """
    in_cluster: Counter = Counter()
    for p in members:
        in_cluster.update(stats.per_passage.get(p.id, ()))
    in_quote: dict[str, int] = {}  # name -> order of first appearance: a sentence's subject comes first
    for text, pid in quoted:
        for name in _names(text, stats.vocab, stats.own.get(pid, frozenset())):
            in_quote.setdefault(name, len(in_quote))
    known = _alias_names()
    scored = []
    for name in set(in_cluster) | set(in_quote):
        count = in_cluster[name] + 2 * (name in in_quote)
        df = max(stats.df[name], 1)
        if count < 2 or (stats.docs >= 3 and df >= 0.75 * stats.docs) or generic_label(name):
            continue
        if topic is not None and topic.matcher is not None and topic.matcher(name) and len(name.split()) == 1:
            continue
        if name.lower() not in known and glued(name, [p.text for p in members]):
            continue
        weight = 2.0 if name.lower() in known else 1.0
        scored.append((weight * count * math.log(1 + stats.docs / df), name))
    scored.sort(key=lambda t: (-t[0], in_quote.get(t[1], len(in_quote)), t[1]))
    chosen: list[str] = []
    for score, name in scored:
        if chosen and score < 0.5 * scored[0][0]:
            break
        if any(name.lower() in c.lower() or c.lower() in name.lower() for c in chosen):
            continue
        if chosen and len(" · ".join(chosen + [name])) > max_chars:
            continue
        chosen.append(name)
        if len(chosen) == max_names:
            break
    if chosen:
        return " · ".join(chosen)
    headings = Counter(p.section for p in members if p.section and not generic_label(p.section))
    if headings:
        return _shorten(min(headings.items(), key=lambda t: (-t[1], t[0]))[0], max_chars)
    return _shorten(members[0].title.split(": ", 1)[-1], max_chars)  # "China Roundup: X" -> "X"


_BEFORE_GLUE_RE = re.compile(r"[A-Z][\w.&'-]*\s+(?:of|and|&)\s+(?:the\s+)?$")
_AFTER_GLUE_RE = re.compile(r"(?:'s)?\s+(?:of|and|&)\s+(?:the\s+)?[A-Z]")


def glued(name: str, texts: Sequence[str]) -> bool:
    """True when every use of `name` is part of a longer name joined by "of" or "and": alone, as
    a label, it reads cut off ("Information Technology" of the Ministry of Industry and
    Information Technology, "Belt" of Belt and Road)."""
    pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
    seen = False
    for text in texts:
        for m in pattern.finditer(text):
            seen = True
            if not (_BEFORE_GLUE_RE.search(text[max(0, m.start() - 60):m.start()])
                    or _AFTER_GLUE_RE.match(text, m.end())):
                return False
    return seen


# Words a cut label must not end on: it would read as a sentence broken off ("told to…").
_DANGLING = frozenset("a an and as at but by for from in into is of on or the to was were with".split())


def _shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut at a word boundary with an ellipsis, never
    mid-word, nor after a dangling "to"/"the" or an opening quote or bracket. A first word longer
    than the limit is kept whole."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    words = text[: limit - 1].split(" ")  # room for the ellipsis
    if text[limit - 1] != " ":
        words = words[:-1]  # the last word was cut through
    while len(words) > 1 and words[-1].lower().strip(",;:-'\"\u2018\u201c([") in _DANGLING | {""}:
        words.pop()
    if not words:
        return text.split(" ", 1)[0]
    cut = " ".join(words).rstrip(" ,;:-\u2013\u2014").rstrip("'\"\u2018\u201c([ ")
    return f"{cut}\u2026"


def informative(text: str, stats: NameStats, passage_id: int) -> bool:
    """Says something checkable: a number, or a name the period does not use everywhere.

    Greetings and framing ("Hello and welcome to this week's roundup of Chinese tech") have
    neither, so they lose to any sentence with a fact in it.
    """
    if re.search(r"\d", text):
        return True
    names = _names(text, stats.vocab, stats.own.get(passage_id, frozenset()))
    return any(not (stats.docs >= 3 and stats.df[n] >= 0.75 * stats.docs) for n in names)


def about_the_column(text: str, stats: NameStats, passage_id: int) -> bool:
    """A sentence naming its own publication and nothing specific besides ("Hello and welcome
    back to TechCrunch's China Roundup, a digest of events shaping the Chinese tech landscape"):
    the column's own framing, not news. A number or another name makes it news."""
    own = stats.own.get(passage_id, frozenset())
    if not own or re.search(r"\d", text):
        return False
    names = capitalised_names(text, stats.vocab)
    return any(_is_own(n, own) for n in names) and all(_is_own(n, own) or generic_label(n) for n in names)


def topic_rows(passages: Sequence[Passage], vectors: np.ndarray, topic: Topic) -> list[int]:
    """Rows about the topic: naming it, or (for a topic the corpus never names) close in meaning."""
    if topic.matcher is not None:
        return [i for i, p in enumerate(passages) if topic.matcher(p.text)]
    scores = vectors @ topic.vector.reshape(-1)
    return [i for i in range(len(passages)) if scores[i] >= topic.floor]


def empty_note(period: Period, coverage: tuple[str | None, str | None], topic: str | None = None) -> str:
    first, last = coverage
    about = f" about \"{topic}\"" if topic else ""
    if not first:
        return f"no roundups{about} between {period.since} and {period.until}; the corpus is empty"
    return (f"no roundups{about} between {period.since} and {period.until}; "
            f"the corpus covers {first} to {last}")


# -- sentences ------------------------------------------------------------------------------

@dataclass
class Sentence:
    text: str
    row: int  # passage row
    order: tuple  # where it stands in the corpus: for reading order and ties
    vector: np.ndarray
    score: float


def _key(text: str) -> str:
    return re.sub(r"\W+", " ", normalize_text(text).lower()).strip()


class SentenceVectors:
    """Sentence vectors per passage, cached by passage id (ids hash the text, so never stale).

    A repeated digest (the weekly post, a second /digest) then costs no model time. Passages
    missing from the cache are encoded together in one batch: many small batches cost several
    times more on a CPU. A sentence's vector does not depend on its batch-mates (measured: 0.0
    difference between batches of 10 and 24; 1e-7 against a batch of one), so digests stay the same.
    """

    def __init__(self, encode: Encode, *, max_passages: int = 4096):
        self._encode = encode
        self._cache: OrderedDict[int, tuple[list[str], np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_passages = max_passages
        self.encoded = 0  # sentences sent to the model: lets a test see the cache work

    def many(self, passages: Sequence[Passage]) -> list[tuple[list[str], np.ndarray]]:
        with self._lock:
            missing = [p for p in dict.fromkeys(passages) if p.id not in self._cache]
        if missing:
            split = [split_sentences(p.text) for p in missing]
            flat = [s for sentences in split for s in sentences]
            vecs = self._encode(flat) if flat else np.zeros((0, 1), dtype=np.float32)
            with self._lock:
                self.encoded += len(flat)
                start = 0
                for p, sentences in zip(missing, split):
                    self._cache[p.id] = (sentences, vecs[start:start + len(sentences)])
                    start += len(sentences)
        with self._lock:
            out = []
            for p in passages:
                hit = self._cache.get(p.id)
                if hit is None:  # evicted meanwhile by another thread: rare, encode alone
                    sentences = split_sentences(p.text)
                    hit = (sentences, self._encode(sentences))
                self._cache[p.id] = hit
                self._cache.move_to_end(p.id)
                out.append(hit)
            while len(self._cache) > self.max_passages:
                self._cache.popitem(last=False)
        return out

    def __call__(self, passage: Passage) -> tuple[list[str], np.ndarray]:
        return self.many([passage])[0]


def candidate_sentences(cluster: Cluster, passages: Sequence[Passage], vectors: np.ndarray,
                        sentence_vectors: SentenceVectors, topic: Topic | None, opts: DigestOptions) -> list[Sentence]:
    """Sentences of the cluster's most central passages, scored by closeness to its centre
    (and, for a topic digest, to the topic); a name topic keeps only sentences that name it."""
    central = sorted(cluster.members, key=lambda i: (-float(vectors[i] @ cluster.centroid), passages[i].id))
    out: list[Sentence] = []
    rows = central[: opts.passages_per_cluster]
    for i, (sentences, vecs) in zip(rows, sentence_vectors.many([passages[i] for i in rows])):
        p = passages[i]
        for n, text in enumerate(sentences):
            if topic is not None and topic.matcher is not None and not topic.matcher(text):
                continue
            score = float(vecs[n] @ cluster.centroid)
            if topic is not None:
                score = 0.5 * score + 0.5 * float(vecs[n] @ topic.vector.reshape(-1))
            if n == 0:
                score += opts.lead_bonus
            out.append(Sentence(text, i, (p.published or "", p.article_id, p.position, n), vecs[n], score))
    sized = [c for c in out if opts.min_words <= word_count(c.text) <= opts.max_words]
    out = sized or out
    out.sort(key=lambda c: (-c.score, c.order))
    return out


def _max_sim(vec: np.ndarray, chosen: list[np.ndarray]) -> float:
    return max((float(vec @ c) for c in chosen), default=0.0)


def _pick(cands: list[Sentence], chosen_vecs: list[np.ndarray], chosen_keys: set[str],
          opts: DigestOptions, *, min_score: float = -1.0, max_chars: int | None = None) -> Sentence | None:
    """MMR: the candidate best balancing centrality against likeness to what is already said;
    a sentence already used or a near-duplicate of one is never taken."""
    best, best_mmr = None, -math.inf
    for c in cands:
        if c.score < min_score or (max_chars is not None and len(c.text) > max_chars):
            continue
        if _key(c.text) in chosen_keys:
            continue
        sim = _max_sim(c.vector, chosen_vecs)
        if sim >= opts.duplicate_cosine:
            continue
        mmr = opts.mmr_lambda * c.score - (1 - opts.mmr_lambda) * sim
        if mmr > best_mmr:
            best, best_mmr = c, mmr
    return best


# -- the digest -----------------------------------------------------------------------------

@dataclass
class Draft:
    cluster: Cluster
    picked: list[Sentence]
    copies: list[int] = field(default_factory=list)  # rows of other passages saying the same


def summarise(passages: Sequence[Passage], vectors: np.ndarray, encode: Encode | SentenceVectors, period: Period, *,
              topic: Topic | None = None, options: DigestOptions | None = None,
              coverage: tuple[str | None, str | None] = (None, None)) -> Digest:
    """A digest of the `passages` inside `period`; `vectors` are their stored vectors, same order.

    `encode` embeds sentences (normalised); pass a SentenceVectors to keep its cache between calls.
    Deterministic: passages are put in id order first, k-means has a fixed seed, sentence vectors
    do not depend on batching, and every sort breaks ties on stable keys.
    """
    opts = options or DigestOptions()
    sentence_vectors = encode if isinstance(encode, SentenceVectors) else SentenceVectors(encode)
    rows = period_rows(passages, period)
    stats = name_stats([passages[i] for i in rows])  # over the whole period: rarity ignores the topic
    rows = topic_filter(rows, passages, vectors, topic)
    tname, tmode = (topic.text, topic.mode) if topic else (None, None)
    if not rows:
        return Digest(period, (), tname, tmode, empty_note(period, coverage, tname), coverage)
    passages = [passages[i] for i in rows]
    vectors = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    clusters = cluster_passages(passages, vectors, period, opts)
    ranked = ranked_candidates(clusters, passages, vectors, sentence_vectors, stats, topic, opts)
    drafts = draft_items(ranked, opts)
    items = tuple(build_item(d, passages, stats, topic) for d in drafts)
    return Digest(period, items, tname, tmode, None, coverage, len(passages),
                  len({p.article_id for p in passages}))


def period_rows(passages: Sequence[Passage], period: Period) -> list[int]:
    """Rows of the passages published inside the period, in passage id order (for determinism)."""
    return sorted((i for i in range(len(passages)) if period.contains(passages[i].published)),
                  key=lambda i: passages[i].id)


def topic_filter(rows: list[int], passages: Sequence[Passage], vectors: np.ndarray, topic: Topic | None) -> list[int]:
    """The rows among `rows` that are about the topic (all of them without one)."""
    if topic is None or not rows:
        return rows
    return [rows[j] for j in topic_rows([passages[i] for i in rows], vectors[rows], topic)]


def cluster_passages(passages: Sequence[Passage], vectors: np.ndarray, period: Period,
                     opts: DigestOptions) -> list[Cluster]:
    """The passages' clusters, best first; copies of one story count once in k and in weights,
    so a republished roundup does not earn its own clusters."""
    weights = duplicate_weights(vectors, [p.article_id for p in passages], opts.passage_duplicate_cosine)
    k = cluster_count(max(1, round(float(weights.sum()))), opts.items)
    labels = cluster_labels(vectors, k, seed=opts.seed)
    return rank_clusters(labels, vectors, weights, passages, period)


def ranked_candidates(clusters: Sequence[Cluster], passages: Sequence[Passage], vectors: np.ndarray,
                      sentence_vectors: SentenceVectors, stats: NameStats, topic: Topic | None,
                      opts: DigestOptions) -> Iterator[tuple[Cluster, list[Sentence]]]:
    """Each cluster with its candidate sentences, in rank order. A sentence about the column
    itself is never a candidate; a cluster with no fact to quote (framing, greetings) is used
    only when no cluster has one: "thanks for reading" is no news, even as a fifth item.

    Lazy: a cluster's sentences are encoded only when the digest gets that far.
    """
    deferred: list[tuple[Cluster, list[Sentence]]] = []
    any_facts = False
    for cluster in clusters:
        cands = candidate_sentences(cluster, passages, vectors, sentence_vectors, topic, opts)
        cands = [c for c in cands if not about_the_column(c.text, stats, passages[c.row].id)]
        facts = [c for c in cands if informative(c.text, stats, passages[c.row].id)]
        if facts:
            any_facts = True
            yield cluster, facts
        elif cands:
            deferred.append((cluster, cands))
    if not any_facts:
        yield from deferred


def pick_sentences(cluster: Cluster, cands: list[Sentence], chosen: Sequence[Sentence], chosen_keys: set[str],
                   opts: DigestOptions) -> list[Sentence]:
    """One item's sentences in the order picked: the MMR pick, then (for a cluster of two or more
    stories) a second close in score that fits the item's length; [] if all is said already."""
    vecs = [c.vector for c in chosen]
    first = _pick(cands, vecs, chosen_keys, opts, max_chars=opts.max_item_chars)
    if first is None:
        return []
    picked = [first]
    if opts.max_sentences >= 2 and cluster.weight >= 2:
        second = _pick(cands, vecs + [first.vector], chosen_keys | {_key(first.text)}, opts,
                       min_score=0.9 * first.score, max_chars=opts.max_item_chars - len(first.text))
        if second is not None:
            picked.append(second)
    return picked


def copy_rows(cands: Sequence[Sentence], picked: Sequence[Sentence], opts: DigestOptions) -> list[int]:
    """Rows of the candidates saying what a picked sentence says, each once, in candidate order."""
    rows: list[int] = []
    for c in cands:
        if c.row not in rows and any(float(c.vector @ s.vector) >= opts.duplicate_cosine for s in picked):
            rows.append(c.row)
    return rows


def draft_items(ranked: Iterable[tuple[Cluster, list[Sentence]]], opts: DigestOptions) -> list[Draft]:
    """Up to `opts.items` drafts, one per cluster that still has something new to say.

    A cluster whose every sentence was said already is cited where it was said instead.
    """
    drafts: list[Draft] = []
    chosen: list[tuple[Sentence, Draft]] = []  # every picked sentence, in the order picked
    for cluster, cands in ranked:
        if len(drafts) == opts.items:
            break
        picked = pick_sentences(cluster, cands, [c for c, _ in chosen], {_key(c.text) for c, _ in chosen}, opts)
        if not picked:
            _attach_copies(cands, chosen, opts)
            continue
        draft = Draft(cluster, sorted(picked, key=lambda c: c.order), copy_rows(cands, picked, opts))
        drafts.append(draft)
        chosen.extend((c, draft) for c in picked)
    return drafts


def _attach_copies(cands: list[Sentence], chosen: list[tuple[Sentence, Draft]], opts: DigestOptions) -> None:
    """Cite each candidate repeating a picked sentence on the draft that quoted it (the first
    such sentence picked, on ties)."""
    for c in cands:
        best = max(chosen, key=lambda t: float(c.vector @ t[0].vector), default=None)
        if best is not None and float(c.vector @ best[0].vector) >= opts.duplicate_cosine:
            if c.row not in best[1].copies:
                best[1].copies.append(c.row)


def build_item(draft: Draft, passages: Sequence[Passage], stats: NameStats, topic: Topic | None,
               max_sources: int = 3) -> DigestItem:
    """Cite the quoted passages' roundups, then other roundups saying the same (copies)."""
    rows = [c.row for c in draft.picked]
    rows += [r for r in draft.copies if r not in rows]
    sources: list[DigestSource] = []
    for i in rows:
        p = passages[i]
        if p.url not in {s.url for s in sources}:
            sources.append(DigestSource(p.title, p.url, p.published))
    label = theme_label([passages[i] for i in draft.cluster.members],
                        [(c.text, passages[c.row].id) for c in draft.picked], stats, topic=topic)
    return DigestItem(label, tuple(c.text for c in draft.picked), tuple(sources[:max_sources]),
                      tuple(passages[i].id for i in rows), draft.cluster.weight)
