"""API keys: how they are made, stored and shown.

A key is `sk-` + 48 hex characters (24 random bytes). Only its SHA-256 is ever stored; a plain
hash suffices because the key carries 192 bits of entropy, so there is nothing to brute-force.
"""

import hashlib
import secrets

PREFIX = "sk-"


def new_key() -> str:
    return PREFIX + secrets.token_hex(24)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def mask(key: str) -> str:
    """What may be shown after creation: enough to recognise a key, too little to use it."""
    return f"{key[:6]}...{key[-4:]}"
