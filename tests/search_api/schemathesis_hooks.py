"""Loaded by the schemathesis CLI (``SCHEMATHESIS_HOOKS``) in test_fuzz.py: how to send the
batch endpoint's body, one JSON object per line."""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    lines = value if isinstance(value, list) else [value]
    return "".join(json.dumps(v) + "\n" for v in lines).encode()
