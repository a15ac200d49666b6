"""Access codes hashed with Argon2id (argon2-cffi), off the event loop (`asyncio.to_thread`; the
library releases the GIL while it hashes).

Parameters: OWASP's minimum for Argon2id, 19 MiB of memory, 2 passes, 1 lane (about 30-60 ms
here). A code has 59 bits of entropy, so the hash guards a leaked database against an offline
search rather than against a weak secret, and a class's notices are printed in seconds.

`verify` always runs exactly one verification: when there is no hash to check against (unknown
student, no code issued, locked), it checks against a dummy hash made at start-up with the same
parameters, so a failed sign-in costs the same time whatever the reason.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1


class Argon2CodeHasher:
    def __init__(
        self,
        memory_kib: int = MEMORY_KIB,
        time_cost: int = TIME_COST,
        parallelism: int = PARALLELISM,
    ) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self.dummy = self.hasher.hash(secrets.token_urlsafe(16))
        self.verifications = 0
        """How many verifications ran (the tests prove every sign-in runs exactly one)."""

    async def hash(self, code: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, code)

    def _verify(self, code_hash: str, code: str) -> bool:
        self.verifications += 1
        try:
            return self.hasher.verify(code_hash, code)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, code_hash: str | None, code: str) -> bool:
        ok = await asyncio.to_thread(self._verify, code_hash or self.dummy, code)
        return ok and code_hash is not None
