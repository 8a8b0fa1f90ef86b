"""The two store backends the store, build and attribution tests run against.

``tantivy`` needs nothing; ``elasticsearch`` needs a server at ``$ELASTICSEARCH_URL`` (default
``http://127.0.0.1:9200``), which ``make test-es`` starts. Those tests carry the ``es`` mark:
``make test`` deselects them and ``make test-es`` runs only them. Without a server they fail
in CI (``$CI`` set) and are skipped elsewhere, saying why.
"""

from __future__ import annotations

import functools
import os
import uuid
from dataclasses import replace

import pytest

from indexer.build import BuildConfig
from indexer.es_config import DEFAULT_URL, ElasticsearchConfig

BACKENDS = ["tantivy", pytest.param("elasticsearch", marks=pytest.mark.es)]


@functools.cache
def _server() -> tuple[str, str | None]:
    from indexer.es_store import es_client  # the client takes half a second to import

    url = os.environ.get("ELASTICSEARCH_URL") or DEFAULT_URL
    try:
        es_client(ElasticsearchConfig(url=url)).cluster.health(timeout="5s")
    except Exception as e:  # any failure to reach it is the same answer: no server
        return url, f"no Elasticsearch server at {url} ({type(e).__name__}: {e}); `make test-es` starts one"
    return url, None


def es_config(request, **overrides):
    """A config for a fresh, uniquely named test index, dropped when the test (or the
    fixture asking) ends."""
    url, problem = _server()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    config = ElasticsearchConfig(url=url, replicas=0, index=f"starscope-test-{uuid.uuid4().hex[:12]}")
    config = replace(config, **overrides)

    def drop():
        from indexer.es_store import es_client

        es_client(config).indices.delete(index=config.index, ignore_unavailable=True)

    request.addfinalizer(drop)
    return config


def build_config(backend: str, request, **kwargs) -> BuildConfig:
    """A BuildConfig for ``backend`` (for Elasticsearch: a fresh test index)."""
    es = es_config(request) if backend == "elasticsearch" else None
    return BuildConfig(store=backend, es=es, **kwargs)


def new_store(backend: str, path, request, **kwargs):
    """A new, empty store of ``backend`` in ``path``."""
    from indexer.stores import open_store

    es = es_config(request) if backend == "elasticsearch" else None
    return open_store(path, backend=backend, create=True, es=es, **kwargs)


def cli_store_args(config: BuildConfig) -> list[str]:
    """The `starscope index` options that build with ``config``'s store."""
    if config.store != "elasticsearch":
        return []
    return ["--store", "elasticsearch", "--es-url", config.es.url, "--es-index", config.es.index,
            "--es-replicas", str(config.es.replicas)]
