"""The cluster store: the store protocol on an Elasticsearch 9 index, for corpora that outgrow
one machine.

Owns one Elasticsearch index (its mapping's ``_meta`` holds the format version and the sketch
configs, checked on every open) and the pointer file ``<index>/store/elasticsearch.json``
(server URL and index name; never credentials), so an index directory names its cluster index.

The server needs no analysis plugins. Words are cut once in Python exactly as the tantivy store
cuts them (:func:`indexer.analysis.word_text`) and indexed with Lucene's built-in ``whitespace``
analyzer, with positions for phrases; camel words, repository/owner/path/license/language, the
chunk-hash keys and the LSH band keys are keyword arrays; the content, the sources and the
MinHash signatures are kept in ``_source`` only. Search snippets come from the stored content in
Python, as in the tantivy store, so a match deep inside a multi-megabyte file is shown (the
server's highlighters stop at ``index.highlight.max_analyzed_offset``, 1M characters).

Writes: documents are keyed by their content sha, so a resumed build overwrites instead of
duplicating; sources are merged with the stored record read in real time (``mget``). Bulk
requests go through ``helpers.streaming_bulk``, which retries rejected (429) documents with
exponential backoff; retries are counted and a document still refused raises
:class:`StoreWriteError`. During a build (:meth:`ElasticsearchStore.loading`) the index has
``refresh_interval: -1`` and no replicas; both are restored, and the index refreshed, at the end.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from elastic_transport import ConnectionError as TransportConnectionError, ConnectionTimeout
from elasticsearch import BadRequestError, Elasticsearch, helpers

from membership.sketch import Signatures, SketchConfig

from . import analysis
from .document import Document
from .es_config import ENV_API_KEY, ENV_PASSWORD, ENV_USER, POINTER_FILE, ElasticsearchConfig
from .query import SearchQuery
from .search_plan import (CHUNK, CHUNK_KEY_BITS, AnyOf, ConstantTerms, Lookup, Node, Phrase, Plan, Regex,
                          SearchPlanner, Snapshot, Term, chunk_keys, plan_chunk_lookup, plan_lookup)
from .store import (STORE_DIR, Page, SearchResult, Source, StoredDocument,
                    StoreFormatError, StoreStats, StoreUnavailable, StoreWriteError,
                    group_documents)
from .sketching import SketchedBatch, SketchStep
from .store_meta import check_meta, check_resume, sketch_config, sketch_meta

FORMAT_VERSION = 1
SCAN_BATCH = 1_000
TERMS_PER_QUERY = 50_000
# Terms per request of term_doc_counts and chunk_doc_counts (one filters aggregation; the server
# allows 65,536 buckets).
COUNT_BATCH = 1_024
# How long a search may reuse the camel vocabulary and literal rankings without asking the
# server whether the index changed (a write through this process forgets them at once).
VIEW_CHECK_SECONDS = 1.0
_LUCENE_REGEX_SPECIAL = re.compile(r'([.?+*|{}\[\]()"\\#@&<>~])')

_FIXED_META = {"format": "starscope-elasticsearch-store", "version": FORMAT_VERSION,
               "words": "python-simple+lowercase/whitespace", "camel_words": "keyword",
               "max_term_chars": analysis.MAX_TERM_CHARS, "chunk_key_bits": CHUNK_KEY_BITS}


def es_client(config: ElasticsearchConfig) -> "_Client":
    """A client of the server a resolved ``config`` names, with credentials from the environment."""
    if not config.url:
        raise ValueError("resolve the config first (its url is unset)")
    auth = {}
    if os.environ.get(ENV_API_KEY):
        auth["api_key"] = os.environ[ENV_API_KEY]
    elif os.environ.get(ENV_USER):
        auth["basic_auth"] = (os.environ[ENV_USER], os.environ.get(ENV_PASSWORD, ""))
    tls = {}
    if config.url.startswith("https://"):
        tls = {"verify_certs": config.verify_certs, "ca_certs": config.ca_certs}
        if not config.verify_certs:
            tls["ssl_show_warn"] = False
    return _Client(config.url, request_timeout=config.request_timeout, max_retries=2,
                   retry_on_timeout=True, **auth, **tls)


class _Client(Elasticsearch):
    """Counts the documents the server rejects with 429 inside ``streaming_bulk`` (which
    retries them without telling); the copies ``options()`` makes share the counter."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rejected: Counter = Counter()

    def options(self, **kwargs):
        copy = super().options(**kwargs)
        copy.rejected = self.rejected
        return copy

    def bulk(self, *args, **kwargs):
        resp = super().bulk(*args, **kwargs)
        if resp.get("errors"):
            self.rejected["429"] += sum(next(iter(item.values())).get("status") == 429
                                        for item in resp["items"])
        return resp


def _unavailable(url: str, e: Exception, doing: str) -> StoreUnavailable:
    return StoreUnavailable(f"cannot reach Elasticsearch at {url} while {doing} "
                            f"({type(e).__name__}: {e}); start it (`make es-up` for a local one) "
                            "or pass --es-url")


@contextmanager
def _reaching(url: str, doing: str):
    """Turn the client's connection failures into :class:`StoreUnavailable` naming ``url``."""
    try:
        yield
    except (TransportConnectionError, ConnectionTimeout) as e:
        raise _unavailable(url, e, doing) from None


def _meta(sketch: bool = True, minhash=None) -> dict:
    return {**_FIXED_META, **sketch_meta(sketch, minhash)}


def _mapping(meta: dict) -> dict:
    keyword = {"type": "keyword"}
    no_values = {"type": "keyword", "doc_values": False}
    return {
        "_meta": meta,
        "dynamic": "strict",
        # Derived from the content at write time; kept out of _source to keep it small.
        "_source": {"excludes": ["words", "camel", "chunk", "band", "repo", "owner", "path",
                                 "license", "lang"]},
        "properties": {
            "sha": keyword,
            "content": {"type": "text", "index": False, "norms": False},
            "words": {"type": "text", "analyzer": "whitespace", "index_options": "positions"},
            "camel": keyword,  # doc values: the vocabulary is read with a composite aggregation
            "repo": keyword, "owner": keyword, "path": no_values, "license": no_values,
            "lang": keyword,
            "chunk": no_values, "band": no_values,
            "stars": {"type": "integer"}, "size": {"type": "long"}, "n_sources": {"type": "integer"},
            "n_repos": {"type": "integer"}, "n_owners": {"type": "integer"},
            "lang_name": {"type": "keyword", "index": False, "doc_values": False},
            "sources": {"type": "object", "enabled": False},
            "sig_plain": {"type": "binary"}, "sig_abstract": {"type": "binary"},
        },
    }


def _keyword(field: str, value) -> str:
    """The keyword a term field indexes for a lookup's value: a chunk key as 8 hex digits."""
    return f"{value:08x}" if field == CHUNK else value


def _term_query(field: str, value: str) -> dict:
    return {"term": {field: value}}


def _terms_filter(field: str, values: Sequence[str]) -> dict:
    """Any of ``values``; a terms query holds at most index.max_terms_count (65,536) terms, so
    more are split into several."""
    groups = [{"terms": {field: list(values[i:i + TERMS_PER_QUERY])}}
              for i in range(0, len(values), TERMS_PER_QUERY)]
    return groups[0] if len(groups) == 1 else {"bool": {"should": groups, "minimum_should_match": 1}}


def _node_query(node: Node) -> dict:
    """One node of a :class:`indexer.search_plan.Plan` in the query DSL (its field names are the
    mapping's)."""
    if isinstance(node, Term):
        return _term_query(node.field, node.value)
    if isinstance(node, Phrase):
        return {"match_phrase": {node.field: " ".join(node.words)}}
    if isinstance(node, ConstantTerms):
        return {"constant_score": {"filter": _terms_filter(node.field, node.values), "boost": node.score}}
    if isinstance(node, Regex):
        return {"regexp": {node.field: {"value": node.pattern, "flags": "NONE"}}}
    if isinstance(node, AnyOf):
        return {"bool": {"should": [_node_query(a) for a in node.alternatives], "minimum_should_match": 1}}
    raise TypeError(f"not a plan node: {node!r}")


def _plan_query(plan: Plan) -> dict:
    """A search plan as one bool query: ``must`` scores, ``filter`` does not."""
    return {"bool": {"must": [_node_query(n) for n in plan.must] or [{"match_all": {}}],
                     "filter": [_node_query(t) for t in plan.filters]}}


def _lookup_query(lookup: Lookup) -> dict:
    """A term lookup in the query DSL: a ``should`` of term queries (BM25), or an unscored set."""
    values = [_keyword(lookup.field, v) for v in lookup.values]
    if lookup.ranked:
        return {"bool": {"should": [_term_query(lookup.field, v) for v in values]}}
    return {"constant_score": {"filter": _terms_filter(lookup.field, values)}}


class ElasticsearchStore:
    """A :class:`indexer.store.Store` on an Elasticsearch 9 index."""

    def __init__(self, index_dir: str | Path, *, config: ElasticsearchConfig | None = None,
                 create: bool = False, sketch: bool = True, minhash=None):
        """Open the store that ``index_dir`` points at (or with ``create`` make the index named
        by ``config``, default: from the environment); ``sketch``/``minhash`` as for
        :class:`indexer.tantivy_store.TantivyStore`.

        Raises:
            StoreUnavailable: the server cannot be reached (the message names the URL).
            StoreFormatError: no such index, or one another StarScope version wrote.
        """
        self.path = Path(index_dir) / STORE_DIR
        self.config = (config or ElasticsearchConfig()).resolved(index_dir, self._read_pointer())
        self.name, self.url = self.config.index, self.config.url
        self._es = es_client(self.config)
        wanted = _meta(sketch, minhash)
        with _reaching(self.url, "opening the store"):
            self._es.cluster.health(timeout="5s")
            exists = bool(self._es.indices.exists(index=self.name))
            if create and not exists:
                self._create(wanted)
            elif not exists:
                raise StoreFormatError(f"Elasticsearch at {self.url} has no index {self.name!r}; "
                                       "build it with `starscope index --store elasticsearch`")
            meta = self.verify()
        if create:
            check_resume(meta, wanted, self._where, sketch=sketch)
            self._write_pointer()
        self._meta = meta
        self._sketch = sketch_config(meta)
        self._view: tuple = (None, 0.0)
        self._view_lock = threading.Lock()
        self.planner = SearchPlanner(ElasticsearchSearch(self))
        self._server_deletes = True  # until the server says it has no _delete_by_query

    @property
    def _where(self) -> str:
        return f"Elasticsearch index {self.name!r} at {self.url}"

    def _read_pointer(self) -> dict | None:
        try:
            d = json.loads((self.path / POINTER_FILE).read_text())
        except FileNotFoundError:
            return None
        return {"url": d["url"], "index": d["index"]}

    def _write_pointer(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / POINTER_FILE
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format": "starscope-elasticsearch-pointer", "url": self.url,
                                   "index": self.name}, indent=2))
        os.replace(tmp, target)

    def _create(self, meta: dict) -> None:
        settings = {"number_of_shards": self.config.shards,
                    "number_of_replicas": self.config.replicas,
                    "refresh_interval": self.config.refresh_interval,
                    "codec": self.config.codec, "max_result_window": self.config.result_window}
        try:
            self._es.indices.create(index=self.name, settings={"index": settings}, mappings=_mapping(meta))
        except BadRequestError as e:
            if e.error != "resource_already_exists_exception":  # another indexer made it first
                raise
        self._es.cluster.health(index=self.name, wait_for_status="yellow", timeout="60s")

    # -- artifact ------------------------------------------------------------------------
    def verify(self) -> dict:
        """Check that the index was written by this store format; return its meta."""
        with _reaching(self.url, "reading the mapping"):
            mapping = self._es.indices.get_mapping(index=self.name)
        meta = next(iter(mapping.body.values()))["mappings"].get("_meta")
        if not meta:
            raise StoreFormatError(f"{self._where} is not a StarScope store (its mapping has no _meta); "
                                   "choose another --es-index")
        return check_meta(meta, _FIXED_META, self._where)

    def describe(self) -> dict:
        """The store's format, analysis and sketch configs, as its mapping's ``_meta`` holds them."""
        return dict(self._meta)

    def sketch_config(self) -> SketchConfig | None:
        """The membership sketch the store was built with (None: a search-only store)."""
        return self._sketch

    def location(self) -> dict:
        """The server and index name, which the manifest records (never credentials)."""
        return {"elasticsearch": {"url": self.url, "index": self.name}}

    def drop(self) -> None:
        """Delete the index and the pointer file (tests and `starscope` never call it implicitly)."""
        with _reaching(self.url, "deleting the index"):
            self._es.indices.delete(index=self.name, ignore_unavailable=True)
        (self.path / POINTER_FILE).unlink(missing_ok=True)

    # -- write side ----------------------------------------------------------------------
    @contextmanager
    def loading(self) -> Iterator[None]:
        """A bulk load: no refreshes and no replicas until the block ends, then both restored
        and the index refreshed (also when the block fails, if the server is still there)."""
        with _reaching(self.url, "preparing the bulk load"):
            self._es.indices.put_settings(index=self.name, settings={
                "index": {"refresh_interval": "-1", "number_of_replicas": 0}})
        try:
            yield
        finally:
            try:
                self._es.indices.put_settings(index=self.name, settings={
                    "index": {"refresh_interval": self.config.refresh_interval,
                              "number_of_replicas": self.config.replicas}})
                self._es.indices.refresh(index=self.name)
            except (TransportConnectionError, ConnectionTimeout):
                pass  # the server is gone: the build's rerun restores them when it ends
            self._changed()

    def _delete_matching(self, query: dict) -> int:
        """Delete every document matching ``query`` with ``_delete_by_query``; on a server
        without the reindex module that provides it (the minimal integ-test-zip used in
        development and CI), the same thing from here: the matching ids over a point in time,
        deleted in bulk. Searches see the deletion on return."""
        with _reaching(self.url, "deleting documents"):
            if self._server_deletes:
                try:
                    resp = self._es.delete_by_query(index=self.name, query=query, conflicts="proceed",
                                                    refresh=True, slices="auto")
                    return resp["deleted"]
                except BadRequestError as e:
                    if "no handler found" not in str(e):
                        raise
                    self._server_deletes = False
            ids = [h["_id"] for batch in self._scan(query, source=False) for h in batch]
            actions = ({"_op_type": "delete", "_index": self.name, "_id": i} for i in ids)
            deleted = 0
            for ok, item in helpers.streaming_bulk(self._es, actions, chunk_size=self.config.bulk_docs,
                                                   raise_on_error=False, max_retries=self.config.max_retries,
                                                   initial_backoff=self.config.initial_backoff,
                                                   max_backoff=self.config.max_backoff):
                result = next(iter(item.values()))
                if ok and result.get("result") == "deleted":
                    deleted += 1
                elif not ok and result.get("status") != 404:
                    raise StoreWriteError(f"{self._where} refused to delete {result.get('_id')}: "
                                          f"{json.dumps(result.get('error'))[:300]}")
            self._es.indices.refresh(index=self.name)
        self._changed()
        return deleted

    @contextmanager
    def session(self, *, sketch: SketchStep | None = None) -> Iterator["ElasticsearchSession"]:
        """A write session: sends what is queued on success, drops it (and re-raises) on error;
        ``sketch`` as for :meth:`indexer.tantivy_store.TantivyStore.session`."""
        s = ElasticsearchSession(self, sketch=sketch)
        try:
            yield s
        except BaseException:
            s.rollback()
            raise
        s.commit()

    def _changed(self) -> None:
        """This process wrote: forget what was cached about the index."""
        with self._view_lock:
            self._view = (None, 0.0)
        self.planner.forget()

    def _to_source(self, rec: StoredDocument, camel: str, chunks: np.ndarray, sigs: Signatures) -> dict:
        """The indexed document: what the content gives (words, camel words, chunk keys,
        signatures and their band keys) plus :meth:`_source_meta`."""
        words, dropped = analysis.word_text(rec.content)
        camel_terms = set(camel.split())
        if dropped:
            camel_terms.add(analysis.LONG_WORD_MARK)
        keys = chunk_keys(chunks).tolist()
        doc = {"sha": rec.sha, "content": rec.content, "words": words, "camel": sorted(camel_terms),
               "chunk": sorted({_keyword(CHUNK, k) for k in keys})}
        for name, sig in (("sig_plain", sigs.plain), ("sig_abstract", sigs.abstracted)):
            if sig is not None:
                doc[name] = base64.b64encode(sig.tobytes()).decode("ascii")
        doc.update(band=list(sigs.band_keys), lang=rec.lang.lower(), lang_name=rec.lang,
                   size=len(rec.content.encode("utf-8", "surrogatepass")), **self._source_meta(rec))
        return doc

    @staticmethod
    def _source_meta(rec: StoredDocument) -> dict:
        """The fields that change when a source is merged in or removed."""
        meta = {"repo": sorted({s.repo.lower() for s in rec.sources}),
                "owner": sorted({s.owner.lower() for s in rec.sources}),
                "path": sorted({s.path.lower() for s in rec.sources}),
                "license": sorted({lic.lower() for lic in rec.licenses}),
                "stars": rec.stars, "n_sources": len(rec.sources),
                "sources": [s.to_json() for s in rec.sources]}
        meta["n_repos"], meta["n_owners"] = len(meta["repo"]), len(meta["owner"])
        return meta

    # -- read side -----------------------------------------------------------------------
    @staticmethod
    def _record(src: dict) -> StoredDocument:
        return StoredDocument(sha=src["sha"], content=src["content"], lang=src["lang_name"],
                              sources=tuple(Source.from_json(s) for s in src["sources"]))

    _RECORD_FIELDS = ["sha", "content", "lang_name", "sources"]

    def _get_many(self, shas: Sequence[str]) -> dict[str, StoredDocument]:
        """Stored records by sha, in real time (unrefreshed writes included)."""
        return {sha: rec for sha, (rec, _) in self._get_versions(shas).items()}

    def _get_versions(self, shas: Sequence[str]) -> dict[str, tuple[StoredDocument, tuple[int, int]]]:
        """Stored records by sha in real time, each with its (seq_no, primary_term): the
        version a conditional write of a merged record is made against."""
        if not shas:
            return {}
        with _reaching(self.url, "reading documents"):
            resp = self._es.mget(index=self.name, ids=list(shas), source_includes=self._RECORD_FIELDS)
        return {d["_id"]: (self._record(d["_source"]), (d["_seq_no"], d["_primary_term"]))
                for d in resp["docs"] if d.get("found")}

    def get(self, sha: str) -> StoredDocument | None:
        return self._get_many([sha]).get(sha)

    def _search(self, doing: str = "searching", **body):
        with _reaching(self.url, doing):
            return self._es.search(index=self.name, **body)

    def _lookup_count(self, lookup: Lookup) -> int:
        """How many live documents ``lookup`` finds (an exact total)."""
        if not lookup.values:
            return 0
        resp = self._search("counting documents", size=0, track_total_hits=True, query=_lookup_query(lookup))
        return resp["hits"]["total"]["value"]

    def _lookup_hits(self, lookup: Lookup, limit: int, fields: list[str]) -> list[dict]:
        if not lookup.values or limit < 1:
            return []
        hits = []
        for batch in self._scan(_lookup_query(lookup), source=fields, limit=limit):
            hits += batch
        return hits

    def _doc_counts(self, field: str, values: Sequence) -> list[int]:
        """How many stored contents hold each value of ``field`` (one filters aggregation per
        batch, which the server answers from its term statistics)."""
        out: list[int] = []
        for i in range(0, len(values), COUNT_BATCH):
            batch = values[i:i + COUNT_BATCH]
            filters = {str(j): _term_query(field, _keyword(field, v)) for j, v in enumerate(batch)}
            resp = self._search("counting terms", size=0, track_total_hits=False,
                                aggs={"t": {"filters": {"filters": filters}}})
            buckets = resp["aggregations"]["t"]["buckets"]
            out += [buckets[str(j)]["doc_count"] for j in range(len(batch))]
        return out

    def count_docs_with_terms(self, field: str, terms: Sequence[str]) -> int:
        """How many live documents hold any of ``terms`` in ``field`` (an exact total)."""
        return self._lookup_count(plan_lookup(field, terms))

    def docs_with_terms(self, field: str, terms: Sequence[str], *, limit: int = 1000) -> list[StoredDocument]:
        """Documents holding any of ``terms`` in the exact-match ``field``, those holding more
        (and rarer) terms first."""
        hits = self._lookup_hits(plan_lookup(field, terms), limit, self._RECORD_FIELDS)
        return [self._record(h["_source"]) for h in hits]

    def term_doc_counts(self, field: str, terms: Sequence[str]) -> dict[str, int]:
        """How many stored contents hold each term of the exact-match ``field``."""
        lookup = plan_lookup(field, terms)
        return dict(zip(lookup.terms, self._doc_counts(field, lookup.values)))

    # -- membership's lookups (membership.store.ContentStore) -----------------------------
    def contents(self, shas: Sequence[str]) -> dict[str, StoredDocument]:
        """The stored contents of ``shas`` that the store holds, by sha (one multi-get, of
        nothing else)."""
        return self._get_many(list(shas)) if len(shas) else {}

    def chunk_doc_counts(self, hashes: np.ndarray) -> np.ndarray:
        """How many stored contents hold the key of each chunk hash, aligned with ``hashes``."""
        keys, where = np.unique(chunk_keys(np.asarray(hashes, dtype=np.uint64)), return_inverse=True)
        counts = np.array(self._doc_counts(CHUNK, keys.tolist()), dtype=np.int64)
        return counts[where.reshape(-1)]

    def contents_with_chunks(self, hashes: np.ndarray, *, limit: int) -> list[StoredDocument]:
        """Contents holding the key of any chunk hash, those holding more (and rarer) first."""
        hits = self._lookup_hits(plan_chunk_lookup(hashes), limit, self._RECORD_FIELDS)
        return [self._record(h["_source"]) for h in hits]

    def count_contents_with_chunks(self, hashes: np.ndarray) -> int:
        return self._lookup_count(plan_chunk_lookup(hashes))

    def signed_contents_with_bands(self, keys: Sequence[str], *, limit: int
                                   ) -> list[tuple[StoredDocument, np.ndarray | None, np.ndarray | None]]:
        """Contents holding any of the band ``keys``, more first, each with its plain and
        abstracted MinHash signatures (None where it had too few tokens, or in a search-only
        store)."""
        dtype = self._sketch.minhash.dtype if self._sketch else None
        out = []
        for h in self._lookup_hits(plan_lookup("band", keys), limit,
                                   self._RECORD_FIELDS + ["sig_plain", "sig_abstract"]):
            src = h["_source"]
            sigs = [np.frombuffer(base64.b64decode(src[name]), dtype) if dtype and src.get(name) else None
                    for name in ("sig_plain", "sig_abstract")]
            out.append((self._record(src), *sigs))
        return out

    def count_contents_with_bands(self, keys: Sequence[str]) -> int:
        return self._lookup_count(plan_lookup("band", keys))

    def repos(self, prefix: str = "", *, limit: int = 100, field: str = "repo") -> list[tuple[str, int]]:
        """Repositories (``field="owner"``: owners) whose lowercased name starts with ``prefix``,
        with document counts, most first."""
        if field not in ("repo", "owner"):
            raise ValueError(f"field is repo or owner, got {field!r}")
        agg = {"field": field, "size": max(1, limit), "order": [{"_count": "desc"}, {"_key": "asc"}]}
        if prefix:
            agg["include"] = _LUCENE_REGEX_SPECIAL.sub(r"\\\1", prefix.lower()) + ".*"
        resp = self._search("listing repositories", size=0, track_total_hits=False,
                            aggs={"r": {"terms": agg}})
        return [(b["key"], b["doc_count"]) for b in resp["aggregations"]["r"]["buckets"]][:limit]

    def stats(self) -> StoreStats:
        resp = self._search("reading statistics", size=0, track_total_hits=True, aggs={
            "bytes": {"sum": {"field": "size"}}, "sources": {"sum": {"field": "n_sources"}},
            "langs": {"terms": {"field": "lang", "size": 200}}})
        with _reaching(self.url, "reading statistics"):
            seg = self._es.indices.stats(index=self.name, metric="segments")
        aggs = resp["aggregations"]
        return StoreStats(documents=resp["hits"]["total"]["value"], sources=int(aggs["sources"]["value"]),
                          content_bytes=int(aggs["bytes"]["value"]),
                          segments=seg["_all"]["primaries"]["segments"]["count"],
                          by_lang={b["key"]: b["doc_count"] for b in aggs["langs"]["buckets"]})

    # -- what the searchers see ------------------------------------------------------------
    def _view_id(self):
        """An id of what searches currently see: it changes when a refresh makes writes
        visible (asked at most once per VIEW_CHECK_SECONDS)."""
        now = time.monotonic()
        with self._view_lock:
            view, at = self._view
            if view is not None and now - at < VIEW_CHECK_SECONDS:
                return view
        with _reaching(self.url, "reading index statistics"):
            st = self._es.indices.stats(index=self.name, metric="refresh,docs")["_all"]["primaries"]
        view = (st["refresh"]["external_total"], st["docs"]["count"], st["docs"]["deleted"])
        with self._view_lock:
            self._view = (view, now)
        return view

    def warm(self) -> None:
        self.planner.warm()

    def drop_cached_rankings(self) -> None:
        self.planner.drop_cached_rankings()

    # -- search --------------------------------------------------------------------------
    @staticmethod
    def _sort(order: str | None) -> list:
        return ([{"stars": "desc"}, {"_score": "desc"}] if order == "stars" else [{"_score": "desc"}])

    def _scan(self, query: dict, *, source, sort: list | None = None, limit: int | None = None,
              batch: int = SCAN_BATCH) -> Iterator[list[dict]]:
        """Every hit of ``query`` in ``sort`` order (default: score), batch by batch, on one
        point in time with ``search_after``: no 10,000-hit window."""
        sort = (sort or [{"_score": "desc"}]) + [{"_shard_doc": "asc"}]
        batch = min(batch, self.config.result_window)  # the window bounds each request's size too
        with _reaching(self.url, "opening a point in time"):
            pit = self._es.open_point_in_time(index=self.name, keep_alive="2m")["id"]
        try:
            after, seen = None, 0
            while limit is None or seen < limit:
                size = batch if limit is None else min(batch, limit - seen)
                body = {"size": size, "query": query, "sort": sort, "_source": source,
                        "pit": {"id": pit, "keep_alive": "2m"}, "track_total_hits": False,
                        "track_scores": True}
                if after is not None:
                    body["search_after"] = after
                with _reaching(self.url, "searching"):
                    resp = self._es.search(**body)
                hits = resp["hits"]["hits"]
                if not hits:
                    return
                pit = resp.get("pit_id", pit)
                seen += len(hits)
                after = hits[-1]["sort"]
                yield hits
                if len(hits) < size:
                    return
        finally:
            try:
                self._es.close_point_in_time(id=pit)
            except Exception:
                pass

    def search(self, query: SearchQuery, *, page: Page = Page(), sort: str = "score") -> SearchResult:
        """Run ``query`` (see :meth:`indexer.search_plan.SearchPlanner.search`); any page can be
        reached (past the server's 10,000-hit window through ``search_after``).

        Raises:
            PageOutOfRange: ``page`` lies past the last page of a non-empty result.
        """
        return self.planner.search(query, page=page, sort=sort)


class ElasticsearchSearch:
    """The :class:`indexer.search_plan.SearchBackend` of an :class:`ElasticsearchStore`: a
    snapshot is the server's current view (asked at most once per VIEW_CHECK_SECONDS), a
    candidate's key its sha, and documents are read in real time."""

    def __init__(self, store: ElasticsearchStore):
        self._store = store

    def snapshot(self) -> Snapshot:
        return Snapshot(None, self._store._view_id())

    def camel_terms(self, snap: Snapshot) -> list[str]:
        terms, after = [], None
        while True:
            comp = {"size": 10_000, "sources": [{"t": {"terms": {"field": "camel"}}}]}
            if after:
                comp["after"] = after
            resp = self._store._search("reading the camel vocabulary", size=0, track_total_hits=False,
                                       aggs={"c": {"composite": comp}})
            agg = resp["aggregations"]["c"]
            terms += [b["key"]["t"] for b in agg["buckets"]]
            after = agg.get("after_key")
            if not agg["buckets"] or not after:
                return terms

    def translate(self, plan: Plan) -> dict:
        return _plan_query(plan)

    def page(self, snap: Snapshot, native: dict, order, offset: int, size: int):
        """A page by score, or by stars when ``order`` is set; each hit's score is its BM25
        score either way (``track_scores``; the tantivy store gives the stars there: a
        divergence kept, deliberately for now, until one is chosen with a test)."""
        store = self._store
        sort = store._sort(order)
        window = store.config.result_window
        if offset + size <= window:
            resp = store._search(query=native, sort=sort, from_=offset, size=size,
                                 track_total_hits=True, track_scores=True,
                                 source_includes=store._RECORD_FIELDS)
            total, hits = resp["hits"]["total"]["value"], resp["hits"]["hits"]
            return total, [(float(h["_score"] or 0.0), store._record(h["_source"])) for h in hits]
        # walk the sort values up to the page, then read it
        total = store._search(query=native, size=0, track_total_hits=True)["hits"]["total"]["value"]
        hits, seen = [], 0
        for batch in store._scan(native, source=False, sort=sort, limit=offset + size, batch=window):
            hits += batch[max(0, offset - seen):]
            seen += len(batch)
        recs = store._get_many([h["_id"] for h in hits])
        return total, [(float(h.get("_score") or 0.0), recs[h["_id"]]) for h in hits if h["_id"] in recs]

    def candidates(self, snap: Snapshot, native: dict, order):
        for batch in self._store._scan(native, source=["content"], sort=self._store._sort(order)):
            for h in batch:
                score = float(h["sort"][0]) if order else float(h.get("_score") or 0.0)
                yield score, h["_id"], h["_source"]["content"]

    def fetch(self, snap: Snapshot, keys) -> list[StoredDocument | None]:
        recs = self._store._get_many(keys)
        return [recs.get(sha) for sha in keys]


# How a queued write is made: create (fails if another writer created it first), index only
# over the version read (fails if another writer changed it since), or index unconditionally.
CREATE, ANY = "create", None
# Rounds of re-reading and re-merging documents another writer changed under a bulk request.
MAX_CONFLICT_ROUNDS = 20


class ElasticsearchSession:
    """Buffered bulk writes to an :class:`ElasticsearchStore` (see its ``session``).

    Several sessions, in several processes or machines, may write one index at once (indexers
    over disjoint shard sets): a new content is written with ``create`` and a merged one only
    over the version it was merged with, so when two writers add sources to the same content,
    the loser of the race reads the winner's record, merges again and retries. ``counts``:
    ``new``, ``merged``, ``unchanged`` as in the tantivy store, plus ``bulk_retried`` (documents
    the server rejected with 429 and that were sent again) and ``conflicts_merged``.
    """

    def __init__(self, store: ElasticsearchStore, *, sketch: SketchStep | None = None):
        self._store = store
        self._sketch = sketch or SketchStep.of(store.sketch_config())
        # sha -> (merged record, write condition, indexed document), in queue order
        self._queued: dict[str, tuple[StoredDocument, object, dict]] = {}
        self.counts: Counter = Counter()

    def add(self, documents: Iterable[Document], sketched: SketchedBatch | None = None) -> int:
        """Add a batch (``sketched``: its sketch, made by the build's step; else the session
        sketches it); returns how many stored records it created or changed."""
        batch = group_documents(documents)
        stored = self._store._get_versions([sha for sha in batch if sha not in self._queued])
        sketched = sketched or self._sketch.batch(batch.values(), logged=False)
        changed, conditions = [], {}
        for sha, rec in batch.items():
            if sha in self._queued:
                base, cond, _ = self._queued[sha]
            else:
                base, cond = stored.get(sha, (None, CREATE))
            merged = base.with_sources(rec.sources) if base else rec
            if base is not None and merged == base:
                self.counts["unchanged"] += 1
                continue
            self.counts["merged" if base else "new"] += 1
            changed.append(merged)
            conditions[sha] = cond
        self._queue(changed, conditions, sketched)
        if len(self._queued) >= self._store.config.bulk_docs:
            self._flush()
        return len(changed)

    def _queue(self, records: Sequence[StoredDocument], conditions: dict,
               sketched: SketchedBatch | None = None) -> None:
        camel = analysis.camel_texts([r.content for r in records])
        sketched = sketched or self._sketch.batch(records, logged=False)
        for rec, text, sigs in zip(records, camel, sketched.signatures(records)):
            self._queued[rec.sha] = (rec, conditions.get(rec.sha, ANY),
                                     self._store._to_source(rec, text, sketched.hashes[rec.sha], sigs))

    def _actions(self) -> Iterator[dict]:
        for sha, (_, cond, source) in self._queued.items():
            action = {"_op_type": "create" if cond == CREATE else "index", "_index": self._store.name,
                      "_id": sha, "_source": source}
            if cond not in (CREATE, ANY):
                action["if_seq_no"], action["if_primary_term"] = cond
            yield action

    def _flush(self) -> None:
        """Send the queued documents. 429s are retried with backoff; a document another writer
        changed meanwhile is read again, merged again and re-sent; anything else refused
        raises :class:`StoreWriteError` naming the first failures."""
        store, cfg = self._store, self._store.config
        es = store._es
        for _ in range(MAX_CONFLICT_ROUNDS):
            if not self._queued:
                break
            before = es.rejected["429"]
            failed, conflicts = [], []
            with _reaching(store.url, "writing documents"):
                for ok, item in helpers.streaming_bulk(
                        es, self._actions(), chunk_size=cfg.bulk_docs, max_chunk_bytes=cfg.bulk_bytes,
                        raise_on_error=False, max_retries=cfg.max_retries,
                        initial_backoff=cfg.initial_backoff, max_backoff=cfg.max_backoff):
                    if not ok:
                        info = next(iter(item.values()))
                        (conflicts if info.get("status") == 409 else failed).append(info)
            if es.rejected["429"] > before:
                self.counts["bulk_retried"] += es.rejected["429"] - before
            store._changed()
            if failed:
                self._queued.clear()
                first = [f"{info.get('_id')}: {info.get('status')} {json.dumps(info.get('error'))[:300]}"
                         for info in failed[:3]]
                hint = ""
                if any(info.get("status") == 429 for info in failed):
                    hint = (" (a document the server keeps refusing with 429 may be too big for its "
                            "indexing pressure limit, 10% of the heap: raise the heap or lower --max-doc-mb)")
                raise StoreWriteError(f"{store._where} refused {len(failed)} documents after "
                                      f"{cfg.max_retries} retries each; first: {'; '.join(first)}{hint}")
            self._requeue([info["_id"] for info in conflicts])
        else:
            raise StoreWriteError(f"{store._where}: {len(self._queued)} documents kept changing under "
                                  f"{MAX_CONFLICT_ROUNDS} rounds of concurrent writes; rerun the build")

    def _requeue(self, shas: list[str]) -> None:
        """Keep only the lost races queued, each merged again onto the record that won."""
        lost = {sha: self._queued[sha] for sha in shas}
        self._queued.clear()
        if not lost:
            return
        self.counts["conflicts_merged"] += len(lost)
        stored = self._store._get_versions(list(lost))
        for sha, (rec, _, source) in lost.items():
            base, cond = stored.get(sha, (None, CREATE))
            merged = base.with_sources(rec.sources) if base else rec
            if base is not None and merged == base:
                continue  # the winner wrote what we would have
            self._queued[sha] = (merged, cond, {**source, **self._store._source_meta(merged)})

    def delete(self, *, repo: str | None = None, owner: str | None = None) -> int:
        """Remove a repository's (or an owner's) sources: contents held only there go in one
        delete-by-query, shared ones are rewritten without those sources. Returns the number
        of contents deleted or changed; searches see it on return."""
        if bool(repo) == bool(owner):
            raise ValueError("give exactly one of repo= or owner=")
        self.commit()
        store = self._store
        field, value = ("repo", repo.lower()) if repo else ("owner", owner.lower())
        count_field = "n_repos" if repo else "n_owners"
        touched = store._delete_matching(
            {"bool": {"filter": [_term_query(field, value), _term_query(count_field, 1)]}})
        kept = []
        for batch in store._scan({"bool": {"filter": [_term_query(field, value)]}},
                                 source=store._RECORD_FIELDS):
            for h in batch:
                rec = store._record(h["_source"])
                keep = tuple(s for s in rec.sources
                             if (s.repo.lower() if repo else s.owner.lower()) != value)
                kept.append(StoredDocument(rec.sha, rec.content, rec.lang, keep))
        self._queue(kept, {})
        touched += len(kept)
        self.counts["deleted"] += touched
        self.commit()
        return touched

    def commit(self) -> None:
        """Send what is queued; outside a bulk load, make it searchable now."""
        self._flush()
        store = self._store
        with _reaching(store.url, "refreshing"):
            settings = store._es.indices.get_settings(index=store.name, name="index.refresh_interval")
            interval = next(iter(settings.body.values()))["settings"].get("index", {}).get("refresh_interval")
            if interval != "-1":
                store._es.indices.refresh(index=store.name)
        store._changed()

    def rollback(self) -> None:
        """Drop what is queued (documents already sent stay: a rerun overwrites them)."""
        self._queued.clear()
