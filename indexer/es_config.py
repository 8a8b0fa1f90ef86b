"""Where an Elasticsearch-backed index lives, and how it is written: the config of
:class:`indexer.es_store.ElasticsearchStore`, without the client.

The command line, the build and ``starscope merge`` make and compare these configs; only the
store itself talks to the server, so only :mod:`indexer.es_store` imports the ``elasticsearch``
client (its import alone takes about half a second).

An index directory names its cluster index in a pointer file, ``<index>/store/elasticsearch.json``
(server URL and index name; never credentials): :func:`pointer_path` is where it is, the store
writes and reads it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from .store import STORE_DIR

POINTER_FILE = "elasticsearch.json"
ENV_URL, ENV_API_KEY = "ELASTICSEARCH_URL", "ELASTICSEARCH_API_KEY"
ENV_USER, ENV_PASSWORD, ENV_CA = "ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD", "ELASTICSEARCH_CA_CERTS"
DEFAULT_URL = "http://127.0.0.1:9200"
_INDEX_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,254}$")


def pointer_path(index_dir: str | Path) -> Path:
    """The pointer file of the index directory ``index_dir``."""
    return Path(index_dir) / STORE_DIR / POINTER_FILE


@dataclass(frozen=True)
class ElasticsearchConfig:
    """Where the index lives and how it is written; credentials come from the environment
    (``ELASTICSEARCH_API_KEY``, or ``ELASTICSEARCH_USERNAME``/``ELASTICSEARCH_PASSWORD``).

    An unset ``url``/``index``/``ca_certs`` is taken from the index directory's pointer file
    (where it was built), then ``ELASTICSEARCH_URL``/``ELASTICSEARCH_CA_CERTS``, then the
    defaults (``http://127.0.0.1:9200``, ``starscope-<name of the index directory>``)."""

    url: str | None = None
    index: str | None = None
    shards: int = 1
    replicas: int = 1  # restored after a build; 0 while it loads
    refresh_interval: str = "1s"
    codec: str = "best_compression"
    result_window: int = 10_000  # index.max_result_window: deeper pages go through search_after
    ca_certs: str | None = None
    verify_certs: bool = True
    request_timeout: float = 120.0
    bulk_docs: int = 500
    bulk_bytes: int = 32 << 20
    max_retries: int = 8  # per rejected (429) document
    initial_backoff: float = 0.5
    max_backoff: float = 30.0

    def __post_init__(self):
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError(f"the Elasticsearch URL must start with http:// or https://, got {self.url!r}")
        if self.index is not None and not _INDEX_NAME_RE.match(self.index):
            raise ValueError(f"{self.index!r} is not a valid Elasticsearch index name (lowercase letters, "
                             "digits, '.', '_', '-'; starting with a letter or digit; at most 255)")
        if self.shards < 1 or self.replicas < 0:
            raise ValueError(f"shards must be >= 1 and replicas >= 0, got {self.shards} and {self.replicas}")
        if self.bulk_docs < 1 or self.bulk_bytes < 1 or self.max_retries < 0:
            raise ValueError("bulk_docs and bulk_bytes must be positive and max_retries >= 0")

    def resolved(self, index_dir: str | Path, pointer: dict | None = None) -> "ElasticsearchConfig":
        """This config with every unset location filled in (see the class docstring)."""
        pointer = pointer or {}
        url = self.url or pointer.get("url") or os.environ.get(ENV_URL) or DEFAULT_URL
        index = self.index or pointer.get("index")
        if not index:
            name = re.sub(r"[^a-z0-9._-]+", "-", Path(index_dir).resolve().name.lower()).strip("-._")
            index = f"starscope-{name or 'index'}"[:255]
        return replace(self, url=url, index=index, ca_certs=self.ca_certs or os.environ.get(ENV_CA))
