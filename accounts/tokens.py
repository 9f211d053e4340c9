"""Hashing of random secrets (invitation tokens, API key secrets): only the hash is stored."""

import hashlib


def hash_secret(value: str) -> str:
    """SHA-256 hex digest. Enough for random 256-bit secrets; not for passwords."""
    return hashlib.sha256(value.encode()).hexdigest()
