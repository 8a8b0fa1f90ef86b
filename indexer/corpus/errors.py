"""The one error type corpus readers and ingesters raise."""

from __future__ import annotations


class CorpusError(Exception):
    """An input or output file of the corpus cannot be used.

    Note:
        The message always starts with the offending file and then says what is wrong with it
        (and, where it helps, what to do), because a build over thousands of shards is only
        debuggable when the error points at the one shard that broke it.
    """
