"""schemathesis hooks for the conformance run: how to make the files the upload routes read.

The documents list the file types an upload takes (`encoding.contentType`), but JSON Schema
cannot say which bytes make a text file; without this, schemathesis sends PNGs and random bytes
as "valid" uploads. Loaded by tests/test_openapi_conformance.py through SCHEMATHESIS_HOOKS.
"""

import schemathesis
from hypothesis import strategies as st

# UTF-8 text without NUL (which no text file carries, and PostgreSQL text cannot hold).
_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=2000).map(str.encode)

for media_type in ("text/plain", "text/markdown"):
    schemathesis.openapi.media_type(media_type, _TEXT)
