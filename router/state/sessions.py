"""Console sign-in: emailed one-time links and sessions, kept in Redis.

A login link carries a nonce signed with the secret key and timestamped (itsdangerous):
a forged link fails its signature, an old one its age, and a used one finds its nonce
gone (GETDEL: single use, even with two clicks at once). A session is a random id in
an HttpOnly cookie; its Redis entry names the person and the CSRF token its forms carry.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

import orjson
import redis
import redis.asyncio
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from router.state import keys

LOGIN_TTL_S = 15 * 60
SESSION_TTL_S = 12 * 3600
COOKIE = "router_session"
LoginFailure = Literal["forged", "expired", "used"]


class LoginRefused(Exception):
    def __init__(self, reason: LoginFailure) -> None:
        super().__init__(reason)
        self.reason = reason


def sign_in_link(public_url: str, token: str, target: str = "/") -> str:
    """The sign-in link a login token makes (GET /login/link)."""
    return f"{public_url.rstrip('/')}/login/link?{urlencode({'token': token, 'next': target})}"


@dataclass(frozen=True)
class Session:
    id: str
    person: str
    csrf: str


class Logins:
    def __init__(self, secret: bytes) -> None:
        self.signer = URLSafeTimedSerializer(secret, salt="router-login")

    def _minted(self) -> tuple[str, str]:
        nonce = secrets.token_urlsafe(24)
        token: str = self.signer.dumps(nonce)
        return nonce, token

    async def start(self, client: redis.asyncio.Redis, person: str) -> str:
        """A fresh login token for `person`, valid LOGIN_TTL_S, once."""
        nonce, token = self._minted()
        await client.set(keys.login(nonce), person, ex=LOGIN_TTL_S)
        return token

    def start_now(self, client: redis.Redis, person: str) -> str:
        """`start` on a synchronous client (`router login-link`)."""
        nonce, token = self._minted()
        client.set(keys.login(nonce), person, ex=LOGIN_TTL_S)
        return token

    def _nonce(self, token: str) -> str:
        try:
            nonce: str = self.signer.loads(token, max_age=LOGIN_TTL_S)
        except SignatureExpired:
            raise LoginRefused("expired") from None
        except BadSignature:
            raise LoginRefused("forged") from None
        return nonce

    async def peek(self, client: redis.asyncio.Redis, token: str) -> str:
        """Whose link this is, without using it (mail scanners open links)."""
        found = await client.get(keys.login(self._nonce(token)))
        if found is None:
            raise LoginRefused("used")
        return found.decode() if isinstance(found, bytes) else str(found)

    async def finish(self, client: redis.asyncio.Redis, token: str) -> Session:
        """Use the link: the nonce is deleted as it is read, and a session begins."""
        found = await client.getdel(keys.login(self._nonce(token)))
        if found is None:
            raise LoginRefused("used")
        person = found.decode() if isinstance(found, bytes) else str(found)
        session = Session(secrets.token_urlsafe(32), person, secrets.token_urlsafe(24))
        said = orjson.dumps({"person": session.person, "csrf": session.csrf})
        await client.set(keys.session(session.id), said, ex=SESSION_TTL_S)
        return session


async def find_session(client: redis.asyncio.Redis, session_id: str | None) -> Session | None:
    if not session_id or len(session_id) > 100:
        return None
    raw = await client.get(keys.session(session_id))
    if raw is None:
        return None
    said = orjson.loads(raw)
    return Session(session_id, str(said["person"]), str(said["csrf"]))


async def end_session(client: redis.asyncio.Redis, session_id: str) -> None:
    await client.delete(keys.session(session_id))
