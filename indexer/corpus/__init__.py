"""Reading code corpora as Documents, and turning source trees into such corpora.

Readers stream :class:`~indexer.document.Document` records out of Stack-like parquet shards
(The Stack, StarCoderData, our own ingested shards) and JSON-lines dumps, counting everything
they skip. Ingesters turn source trees and the running Python environment into Stack-format
parquet shards, so every corpus is read by the same reader.

>>> from collections import Counter
>>> stats = Counter()
>>> for path in list_shards(["corpus/"]):                      # doctest: +SKIP
...     for document in iter_documents(path, stats=stats):
...         ...
"""

from indexer.corpus.errors import CorpusError
from indexer.corpus.fields import KNOWN_FIELD_NAMES, FieldMap
from indexer.corpus.ingest import ingest_python_env, ingest_trees
from indexer.corpus.licenses import (detect_license_file, licenses_from_expression,
                                     normalize_license)
from indexer.corpus.shards import SUPPORTED_SUFFIXES, iter_documents, list_shards

__all__ = [
    "KNOWN_FIELD_NAMES",
    "SUPPORTED_SUFFIXES",
    "CorpusError",
    "FieldMap",
    "detect_license_file",
    "ingest_python_env",
    "ingest_trees",
    "iter_documents",
    "licenses_from_expression",
    "list_shards",
    "normalize_license",
]
