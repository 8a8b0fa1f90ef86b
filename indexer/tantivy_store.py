"""The embedded store: one tantivy index directory, with a code-aware schema.

Owns the directory ``<index>/store/``: the tantivy files plus ``starscope-store.json``
(format version and analysis patterns), checked on every open because tantivy does not
persist custom analyzers: they are registered again from :mod:`indexer.analysis` each time.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from membership.sketch import Signatures, SketchConfig

from . import analysis
from .document import Document
from .query import SearchQuery
from .search_plan import (CHUNK, CHUNK_KEY_BITS, WORDS, AnyOf, ConstantTerms, Lookup, Node, Phrase, Plan,
                          Regex, SearchPlanner, Snapshot, Term, chunk_keys, plan_chunk_lookup, plan_lookup)
from .store import (STORE_DIR, Page, SearchResult, Source, StoredDocument, StoreFormatError,
                    StoreStats, group_documents)
from .sketching import SketchedBatch, SketchStep
from .store_meta import check_meta, check_resume, sketch_config, sketch_meta

FORMAT_VERSION = 3
META_FILE = "starscope-store.json"


@dataclass(frozen=True)
class TantivyConfig:
    """Writer resources; they do not change what is indexed."""

    heap_bytes: int = 256_000_000
    num_threads: int = 0  # 0: tantivy picks (one per core, capped)

    def __post_init__(self):
        if self.heap_bytes < 15_000_000:
            raise ValueError("heap_bytes must be at least 15 MB (tantivy needs ~3 MB per thread); "
                             f"got {self.heap_bytes}")


def _field(name: str) -> str:
    """The schema field of a field a plan names: the words are the content's own field."""
    return "content" if name == WORDS else name


def _node_query(schema, node: Node):
    """One node of a :class:`indexer.search_plan.Plan` as a tantivy query."""
    from tantivy import Occur, Query

    if isinstance(node, Term):
        return Query.term_query(schema, _field(node.field), node.value)
    if isinstance(node, Phrase):
        return Query.phrase_query(schema, _field(node.field), list(node.words))
    if isinstance(node, ConstantTerms):
        return Query.const_score_query(Query.term_set_query(schema, _field(node.field), list(node.values)),
                                       node.score)
    if isinstance(node, Regex):
        return Query.regex_query(schema, _field(node.field), node.pattern)
    if isinstance(node, AnyOf):
        return Query.boolean_query([(Occur.Should, _node_query(schema, a)) for a in node.alternatives])
    raise TypeError(f"not a plan node: {node!r}")


def _plan_query(schema, plan: Plan):
    """A search plan as one tantivy query: its filters score 0, so only ``must`` ranks."""
    from tantivy import Occur, Query

    scored = [_node_query(schema, n) for n in plan.must] or [Query.all_query()]
    clauses = [(Occur.Must, q) for q in scored]
    clauses += [(Occur.Must, Query.const_score_query(_node_query(schema, t), 0.0)) for t in plan.filters]
    return clauses[0][1] if len(clauses) == 1 else Query.boolean_query(clauses)


def _lookup_query(schema, lookup: Lookup):
    """A term lookup as a tantivy query: a ``should`` of term queries (BM25), or a term set."""
    from tantivy import Occur, Query

    if lookup.ranked:
        return Query.boolean_query([(Occur.Should, Query.term_query(schema, lookup.field, v))
                                    for v in lookup.values])
    return Query.term_set_query(schema, lookup.field, list(lookup.values))


def _schema():
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("sha", stored=True, tokenizer_name="raw")
    sb.add_text_field("content", stored=True, tokenizer_name="code_words", index_option="position")
    sb.add_text_field("camel", stored=False, tokenizer_name="camel_words", index_option="basic")
    for name in ("repo", "owner", "path", "license", "lang"):
        sb.add_text_field(name, stored=False, tokenizer_name="raw", fast=name == "lang")
    # Chunk keys are u64 terms (no tokenizing); band keys are many whitespace-joined terms in
    # one text.
    sb.add_unsigned_field(CHUNK, stored=False, indexed=True)
    sb.add_text_field("band", stored=False, tokenizer_name="hash_terms", index_option="basic")
    sb.add_integer_field("stars", stored=False, indexed=True, fast=True)
    sb.add_integer_field("size", stored=False, indexed=False, fast=True)
    sb.add_integer_field("n_sources", stored=False, indexed=False, fast=True)
    sb.add_text_field("lang_stored", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_bytes_field("sources", stored=True, indexed=False)
    for name in ("sig_plain", "sig_abstract"):  # MinHash signatures, compact (num_perm values)
        sb.add_bytes_field(name, stored=True, indexed=False)
    return sb.build()


def _analyzers():
    """tantivy's own fast tokenizers (see :mod:`indexer.analysis` for what they produce)."""
    import tantivy as t

    too_long = t.Filter.remove_long(analysis.MAX_TERM_CHARS + 1)
    return {"code_words": t.TextAnalyzerBuilder(t.Tokenizer.simple())
            .filter(t.Filter.lowercase()).filter(too_long).build(),
            "camel_words": t.TextAnalyzerBuilder(t.Tokenizer.whitespace()).filter(too_long).build(),
            "hash_terms": t.TextAnalyzerBuilder(t.Tokenizer.whitespace()).build()}


_FIXED_META = {"format": "starscope-tantivy-store", "version": FORMAT_VERSION,
               "words": "simple+lowercase", "camel_words": "whitespace",
               "max_term_chars": analysis.MAX_TERM_CHARS, "chunk_key_bits": CHUNK_KEY_BITS}


def _meta(sketch: bool = True, minhash=None) -> dict:
    """The store's description; ``chunks``/``minhash`` are null in a search-only store."""
    return {**_FIXED_META, **sketch_meta(sketch, minhash)}


class TantivyStore:
    """A :class:`indexer.store.Store` on an on-disk tantivy index."""

    def __init__(self, index_dir: str | Path, *, config: TantivyConfig = TantivyConfig(),
                 create: bool = False, sketch: bool = True, minhash=None):
        """Open the store of ``index_dir``; ``create`` makes one if there is none, with the
        membership sketch (chunk hashes, MinHash signatures with ``minhash``, a
        :class:`membership.minhash.MinHashConfig`, default if None) unless ``sketch`` is false."""
        import tantivy

        self.path = Path(index_dir) / STORE_DIR
        self.config = config
        meta_path = self.path / META_FILE
        wanted = _meta(sketch, minhash)
        if create and not meta_path.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._schema = _schema()
            self._index = tantivy.Index(self._schema, path=str(self.path))
            tmp = meta_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(wanted, indent=2))
            os.replace(tmp, meta_path)
        else:
            meta = self.verify()
            if create:
                check_resume(meta, wanted, str(self.path), sketch=sketch)
            self._schema = _schema()
            self._index = tantivy.Index.open(str(self.path))
        self._meta = json.loads(meta_path.read_text())
        self._seen = None  # tantivy's meta.json as the reader last loaded it (see _searcher)
        self._sketch = sketch_config(self._meta)
        for name, analyzer in _analyzers().items():
            self._index.register_tokenizer(name, analyzer)
        self.planner = SearchPlanner(TantivySearch(self))

    # -- artifact ------------------------------------------------------------------------
    def verify(self) -> dict:
        """Check that the directory holds a store this version can read; return its meta."""
        meta_path = self.path / META_FILE
        if not meta_path.exists():
            raise StoreFormatError(f"{self.path} holds no StarScope store (missing {META_FILE}); "
                                   "build one with `starscope index`")
        return check_meta(json.loads(meta_path.read_text()), _FIXED_META, str(self.path))

    def describe(self) -> dict:
        """The store's format and analysis, as recorded in the manifest."""
        return dict(self._meta)

    def sketch_config(self) -> SketchConfig | None:
        """The membership sketch the store was built with (None: a search-only store)."""
        return self._sketch

    def location(self) -> dict:
        """Nothing beyond the index directory: the store is in it."""
        return {}

    # -- write side ----------------------------------------------------------------------
    @contextmanager
    def loading(self) -> Iterator[None]:
        """A bulk load: nothing to change here (each commit is searchable once it lands)."""
        yield

    @contextmanager
    def session(self, *, sketch: SketchStep | None = None) -> Iterator["TantivySession"]:
        """A write session: commits on success, rolls back (and re-raises) on error; ``sketch``:
        the step that sketches what the session writes without a batch sketched already
        (default: one of the store's own sketch config, signing in this process)."""
        s = TantivySession(self, sketch=sketch)
        try:
            yield s
        except BaseException as e:
            try:
                s.rollback()
            except ValueError:
                if _disk_error(e, self.path) is None:
                    raise
            disk = _disk_error(e, self.path)
            if disk is not None:
                raise disk from e
            raise
        try:
            s.commit()
            s.close()
        except ValueError as e:
            disk = _disk_error(e, self.path)
            if disk is not None:
                raise disk from e
            raise

    def _to_tantivy(self, rec: StoredDocument, camel: str, chunks: np.ndarray, sigs: Signatures):
        """One tantivy document; ``camel``, ``chunks`` (its chunk hashes) and ``sigs`` are
        computed by the caller per batch."""
        import tantivy

        d = tantivy.Document()
        d.add_text("sha", rec.sha)
        d.add_text("content", rec.content)
        d.add_text("camel", camel)
        for key in chunk_keys(chunks).tolist():
            d.add_unsigned(CHUNK, key)
        for name, sig in (("sig_plain", sigs.plain), ("sig_abstract", sigs.abstracted)):
            if sig is not None:
                d.add_bytes(name, sig.tobytes())
        if sigs.band_keys:
            d.add_text("band", " ".join(sigs.band_keys))
        d.add_text("lang", rec.lang.lower())
        d.add_text("lang_stored", rec.lang)
        for field, values in (("repo", {s.repo.lower() for s in rec.sources}),
                              ("owner", {s.owner.lower() for s in rec.sources}),
                              ("path", {s.path.lower() for s in rec.sources}),
                              ("license", {lic.lower() for lic in rec.licenses})):
            for v in sorted(values):
                d.add_text(field, v)
        d.add_integer("stars", rec.stars)
        d.add_integer("size", len(rec.content.encode("utf-8", "surrogatepass")))
        d.add_integer("n_sources", len(rec.sources))
        d.add_bytes("sources", json.dumps([s.to_json() for s in rec.sources]).encode())
        return d

    # -- read side -----------------------------------------------------------------------
    def _searcher(self):
        # See other processes' commits: tantivy writes a new meta.json on each, so the reader is
        # reloaded (~0.1 ms) only when that file changed (a stat, ~2 us).
        try:
            stat = os.stat(self.path / "meta.json")
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = None
        if seen is None or seen != self._seen:
            try:
                self._index.reload()
            except ValueError:
                if self.path.exists():
                    raise
                # The directory was deleted under an open store (a server finishing requests on
                # an index it has just switched away from): the segments it has open stay readable.
            self._seen = seen
        return self._index.searcher()

    @staticmethod
    def _record(doc) -> StoredDocument:
        sources = tuple(Source.from_json(s) for s in json.loads(doc["sources"][0]))
        return StoredDocument(sha=doc["sha"][0], content=doc["content"][0],
                              lang=doc["lang_stored"][0], sources=sources)

    def _get_many(self, searcher, shas: Sequence[str]) -> dict[str, StoredDocument]:
        from tantivy import Occur, Query

        if not shas:
            return {}
        # A few terms are found faster one by one than through a term set's automaton (8 shas:
        # 30 us against 250 us); thousands, the other way round.
        query = (Query.boolean_query([(Occur.Should, Query.term_query(self._schema, "sha", sha)) for sha in shas])
                 if len(shas) <= _SHA_TERMS else Query.term_set_query(self._schema, "sha", list(shas)))
        res = searcher.search(query, limit=len(shas), count=False)
        recs = (self._record(searcher.doc(addr)) for _, addr in res.hits)
        return {r.sha: r for r in recs}

    def get(self, sha: str) -> StoredDocument | None:
        return self._get_many(self._searcher(), [sha]).get(sha)

    def _lookup_hits(self, lookup: Lookup, limit: int):
        """A snapshot and the addresses of the first ``limit`` documents of ``lookup``."""
        searcher = self._searcher()
        if not lookup.values or limit < 1:
            return searcher, []
        query = _lookup_query(self._schema, lookup)
        return searcher, [addr for _, addr in searcher.search(query, limit=limit, count=False).hits]

    def _lookup_count(self, lookup: Lookup) -> int:
        """How many live documents ``lookup`` finds (deleted ones are not counted, unlike the
        term statistics of :meth:`term_doc_counts` and :meth:`chunk_doc_counts`)."""
        if not lookup.values:
            return 0
        return self._searcher().search(_lookup_query(self._schema, lookup), limit=1, count=True).count

    def count_docs_with_terms(self, field: str, terms: Sequence[str]) -> int:
        """How many live documents hold any of ``terms`` in ``field`` (deleted ones are not
        counted, unlike :meth:`term_doc_counts`)."""
        return self._lookup_count(plan_lookup(field, terms))

    def docs_with_terms(self, field: str, terms: Sequence[str], *, limit: int = 1000) -> list[StoredDocument]:
        """Documents holding any of ``terms`` in the exact-match ``field``, those holding more
        (and rarer) terms first."""
        searcher, hits = self._lookup_hits(plan_lookup(field, terms), limit)
        return [self._record(searcher.doc(addr)) for addr in hits]

    def term_doc_counts(self, field: str, terms: Sequence[str]) -> dict[str, int]:
        """How many stored contents hold each term of the exact-match ``field`` (deleted ones
        count until their segment is merged)."""
        lookup = plan_lookup(field, terms)
        searcher = self._searcher()
        return {t: searcher.doc_freq(field, v) for t, v in zip(lookup.terms, lookup.values)}

    # -- membership's lookups (membership.store.ContentStore) -----------------------------
    def contents(self, shas: Sequence[str]) -> dict[str, StoredDocument]:
        """The stored contents of ``shas`` that the store holds, by sha (one lookup)."""
        return self._get_many(self._searcher(), list(shas))

    def chunk_doc_counts(self, hashes: np.ndarray) -> np.ndarray:
        """How many stored contents hold the key of each chunk hash, aligned with ``hashes``
        (deleted ones count until their segment is merged)."""
        keys, where = np.unique(chunk_keys(np.asarray(hashes, dtype=np.uint64)), return_inverse=True)
        searcher = self._searcher()
        counts = np.array([searcher.doc_freq(CHUNK, k) for k in keys.tolist()], dtype=np.int64)
        return counts[where.reshape(-1)]

    def contents_with_chunks(self, hashes: np.ndarray, *, limit: int) -> list[StoredDocument]:
        """Contents holding the key of any chunk hash, those holding more (and rarer) first."""
        searcher, hits = self._lookup_hits(plan_chunk_lookup(hashes), limit)
        return [self._record(searcher.doc(addr)) for addr in hits]

    def count_contents_with_chunks(self, hashes: np.ndarray) -> int:
        return self._lookup_count(plan_chunk_lookup(hashes))

    def signed_contents_with_bands(self, keys: Sequence[str], *, limit: int
                                   ) -> list[tuple[StoredDocument, np.ndarray | None, np.ndarray | None]]:
        """Contents holding any of the band ``keys``, more first, each with its plain and
        abstracted MinHash signatures (None where it had too few tokens, or in a search-only
        store)."""
        searcher, hits = self._lookup_hits(plan_lookup("band", keys), limit)
        dtype = self._sketch.minhash.dtype if self._sketch else None
        out = []
        for addr in hits:
            doc = searcher.doc(addr)
            sigs = [np.frombuffer(doc[name][0], dtype) if dtype and doc.get_first(name) else None
                    for name in ("sig_plain", "sig_abstract")]
            out.append((self._record(doc), *sigs))
        return out

    def count_contents_with_bands(self, keys: Sequence[str]) -> int:
        return self._lookup_count(plan_lookup("band", keys))

    def repos(self, prefix: str = "", *, limit: int = 100, field: str = "repo") -> list[tuple[str, int]]:
        """Repositories (``field="owner"``: owners) whose lowercased name starts with ``prefix``,
        with document counts, most first."""
        from tantivy import Query

        if field not in ("repo", "owner"):
            raise ValueError(f"field is repo or owner, got {field!r}")
        searcher = self._searcher()
        # Term statistics still count deleted documents (an opt-out) until their segment is
        # merged: they only rank the candidates, and each one's live count is searched.
        out = []
        for term, _ in sorted(searcher.terms_with_prefix(field, prefix.lower()), key=lambda t: (-t[1], t[0])):
            live = searcher.search(Query.term_query(self._schema, field, term), limit=1, count=True).count
            if live:
                out.append((term, live))
                if len(out) >= limit:
                    break
        return sorted(out, key=lambda t: (-t[1], t[0]))

    def stats(self) -> StoreStats:
        from tantivy import Query

        searcher = self._searcher()
        if searcher.num_docs == 0:
            return StoreStats(documents=0, sources=0, content_bytes=0, segments=searcher.num_segments)
        agg = searcher.aggregate(Query.all_query(), {
            "bytes": {"sum": {"field": "size"}},
            "sources": {"sum": {"field": "n_sources"}},
            "langs": {"terms": {"field": "lang", "size": 200}}})
        by_lang = {b["key"]: b["doc_count"] for b in agg["langs"]["buckets"]}
        return StoreStats(documents=searcher.num_docs, sources=int(agg["sources"]["value"]),
                          content_bytes=int(agg["bytes"]["value"]), segments=searcher.num_segments,
                          by_lang=by_lang)

    # -- search --------------------------------------------------------------------------
    def search(self, query: SearchQuery, *, page: Page = Page(), sort: str = "score") -> SearchResult:
        """Run ``query`` on one snapshot (see :meth:`indexer.search_plan.SearchPlanner.search`).

        Raises:
            PageOutOfRange: ``page`` lies past the last page of a non-empty result.
        """
        return self.planner.search(query, page=page, sort=sort)

    def warm(self) -> None:
        """Build the camel-word vocabulary of the latest commit (~0.5 s per 100k camel words)."""
        self.planner.warm()

    def drop_cached_rankings(self) -> None:
        """Forget the verified rankings of literal queries (benchmarks time cold queries)."""
        self.planner.drop_cached_rankings()


class TantivySearch:
    """The :class:`indexer.search_plan.SearchBackend` of a :class:`TantivyStore`: a snapshot is
    one searcher, and a candidate's key its document address, valid on that searcher only (which
    is why a ranking is kept per commit)."""

    def __init__(self, store: TantivyStore):
        self._store = store

    def _commit_id(self):
        """Identity of the latest commit (tantivy rewrites ``meta.json`` atomically on each)."""
        try:
            st = os.stat(self._store.path / "meta.json")
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def snapshot(self) -> Snapshot:
        """A searcher and the commit it reads, or ``None`` for the commit when one landed while
        the searcher was being opened (then nothing is cached for it)."""
        before = self._commit_id()
        searcher = self._store._searcher()
        return Snapshot(searcher, before if before == self._commit_id() else None)

    def camel_terms(self, snap: Snapshot) -> Iterator[str]:
        return (t for t, _ in snap.reader.terms_with_prefix("camel", ""))

    def translate(self, plan: Plan):
        return _plan_query(self._store._schema, plan)

    def page(self, snap: Snapshot, native, order, offset: int, size: int):
        """A page by score, or by stars when ``order`` is set; then each hit's score is its
        stars (the Elasticsearch store gives BM25 there: a divergence kept, deliberately for
        now, until one is chosen with a test)."""
        searcher = snap.reader
        res = searcher.search(native, limit=size, offset=offset, count=True, order_by_field=order)
        return res.count, [(float(score), self._store._record(searcher.doc(addr))) for score, addr in res.hits]

    def candidates(self, snap: Snapshot, native, order):
        searcher = snap.reader
        res = searcher.search(native, limit=max(searcher.num_docs, 1), count=False, order_by_field=order)
        for score, addr in res.hits:
            yield float(score), addr, searcher.doc(addr)["content"][0]

    def fetch(self, snap: Snapshot, keys) -> list[StoredDocument]:
        return [self._store._record(snap.reader.doc(addr)) for addr in keys]


_SHA_TERMS = 1024  # up to this many shas are looked up as term queries, more as a term set
_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def _disk_error(error: BaseException, path: Path) -> OSError | None:
    """The OSError behind a tantivy write failure, if it was one (tantivy raises ValueError):
    its errno when the message gives it; else, when the writer died of an I/O error it did not
    pass on, what writing a probe file into ``path`` says now (a full or read-only disk)."""
    if not isinstance(error, ValueError):
        return None
    m = _OS_ERROR.search(str(error))
    if m:
        code = int(m.group(1))
        return OSError(code, os.strerror(code), str(path))
    if "writer was killed" not in str(error) and "IO error" not in str(error):
        return None
    probe = path / f".write-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * (1 << 20))
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        return e
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return None


class TantivySession:
    """Buffered writes to a :class:`TantivyStore` (see :meth:`TantivyStore.session`).

    ``counts`` says what the session did: ``new`` contents, ``merged`` sources added to stored
    contents, ``unchanged`` documents that were already there exactly (a resumed build).
    """

    def __init__(self, store: TantivyStore, *, sketch: SketchStep | None = None):
        self._store = store
        self._sketch = sketch or SketchStep.of(store.sketch_config())
        self._writer = store._index.writer(heap_size=store.config.heap_bytes,
                                           num_threads=store.config.num_threads)
        self._pending: dict[str, StoredDocument] = {}
        self.counts: Counter = Counter()

    def add(self, documents: Iterable[Document], sketched: SketchedBatch | None = None) -> int:
        """Add a batch (``sketched``: its sketch, made by the build's step; else the session
        sketches it); returns how many stored records it created or changed."""
        batch = group_documents(documents)
        unseen = [sha for sha in batch if sha not in self._pending]
        stored = self._store._get_many(self._store._searcher(), unseen)
        sketched = sketched or self._sketch.batch(batch.values(), logged=False)
        changed = []
        for sha, rec in batch.items():
            base = self._pending.get(sha) or stored.get(sha)
            merged = base.with_sources(rec.sources) if base else rec
            if base is not None and merged == base:
                self.counts["unchanged"] += 1
                continue
            self.counts["merged" if base else "new"] += 1
            if base is not None:
                self._writer.delete_documents_by_term("sha", sha)
            self._pending[sha] = merged
            changed.append(merged)
        self._write(changed, sketched)
        return len(changed)

    def _write(self, records: Sequence[StoredDocument], sketched: SketchedBatch | None = None) -> None:
        camel = analysis.camel_texts([r.content for r in records])
        sketched = sketched or self._sketch.batch(records, logged=False)
        for rec, text, sigs in zip(records, camel, sketched.signatures(records)):
            self._writer.add_document(self._store._to_tantivy(rec, text, sketched.hashes[rec.sha], sigs))

    def delete(self, *, repo: str | None = None, owner: str | None = None) -> int:
        """Remove a repository's (or an owner's) sources; contents left without any source are
        deleted. Returns the number of contents deleted or changed. Commits first and after."""
        from tantivy import Query

        if bool(repo) == bool(owner):
            raise ValueError("give exactly one of repo= or owner=")
        self.commit()
        field, value = ("repo", repo.lower()) if repo else ("owner", owner.lower())
        searcher = self._store._searcher()
        res = searcher.search(Query.term_query(self._store._schema, field, value),
                              limit=max(searcher.num_docs, 1), count=False)
        touched, kept = 0, []
        for _, addr in res.hits:
            rec = self._store._record(searcher.doc(addr))
            keep = tuple(s for s in rec.sources
                         if (s.repo.lower() if repo else s.owner.lower()) != value)
            self._writer.delete_documents_by_term("sha", rec.sha)
            if keep:
                kept.append(StoredDocument(rec.sha, rec.content, rec.lang, keep))
            touched += 1
        self._write(kept)
        self.counts["deleted"] += touched
        self.commit()
        return touched

    def commit(self) -> None:
        self._writer.commit()
        self._pending.clear()

    def rollback(self) -> None:
        self._writer.rollback()
        self._pending.clear()
        self.close()

    def close(self) -> None:
        self._writer.wait_merging_threads()
