"""Desktop login passwords: scrypt hashes from the standard library.

Format (one string, safe to keep in YAML):

    scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>

`n=2**14, r=8, p=1` (the parameters RFC 7914 and OWASP name for interactive
logins) with a 16-byte random salt and a 32-byte key. `pbkdf2_sha256$<iterations>$<salt>$<hash>`
is accepted too, for hashes made by other tools.
Layer 5 (runtime).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A new scrypt hash of `password` in the documented format."""
    salt = salt if salt is not None else os.urandom(16)
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=_KEY_BYTES
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def is_password_hash(value: str) -> bool:
    """True when `value` looks like a hash this module can verify."""
    parts = value.split("$")
    return (parts[0] == "scrypt" and len(parts) == 6) or (
        parts[0] == "pbkdf2_sha256" and len(parts) == 4
    )


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against a stored hash; False for a malformed hash."""
    parts = encoded.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
            if n > 2**20 or r > 32 or p > 16:  # refuse hashes that would burn the CPU
                return False
            key = hashlib.scrypt(
                password.encode("utf-8"),
                salt=salt,
                n=n,
                r=r,
                p=p,
                dklen=len(expected),
                maxmem=256 * 1024 * 1024,
            )
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations = int(parts[1])
            salt, expected = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            if iterations > 5_000_000:
                return False
            key = hashlib.pbkdf2_hmac(
                "sha256", password.encode("utf-8"), salt, iterations, dklen=len(expected)
            )
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(key, expected)
