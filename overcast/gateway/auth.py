"""Authorizers: API keys with usage plans, JWT (HS256/RS256, issuer, audience, expiry, scopes,
keys from a JWKS file) and custom authorizer functions with result caching.

Before changing: an authorizer either returns the identity it established (a dict that becomes
``request.auth``) or raises ``Denied`` with the status to answer — 401 when credentials are
missing or invalid, 403 when they are valid but not enough, 429 when throttled. Nothing that
fails verification is ever let through: every error path denies.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt

from overcast.errors import ConfigError
from overcast.gateway.keys import KeyStore, Verdict, changes

if TYPE_CHECKING:
    from overcast.app import App


class Denied(Exception):
    """A request the authorizer refuses: ``status`` and a message for the JSON body."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class Authorizer:
    """Base class: ``authorize(app, headers, scopes) -> identity dict`` or raise ``Denied``."""

    def authorize(self, app: App, headers: Mapping[str, str], scopes: tuple[str, ...]) -> dict[str, Any]:
        raise NotImplementedError


class APIKeyAuth(Authorizer):
    """API keys in the ``x-api-key`` header, checked against their usage plan in the engine.

    ``plans`` limits the route to keys of those plans. Keys are managed with
    ``overcast keys create|ls|revoke`` (or ``KeyStore``).

    Admission is leased (see ``overcast.gateway.keys``): one engine transaction admits up to a
    tenth of a second of the plan's rate, and the requests it covers are admitted in memory for
    at most ``lease_seconds``. A key revoked or a plan changed in this process applies to the
    next request; from another process (``overcast keys revoke``), within ``lease_seconds``.
    """

    def __init__(self, *, header: str = "x-api-key", plans: tuple[str, ...] | list[str] = (),
                 lease_seconds: float = 1.0) -> None:
        if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int | float) or not 0 <= lease_seconds <= 60:
            raise ConfigError(f"APIKeyAuth: lease_seconds must be between 0 and 60, not {lease_seconds!r}")
        self.header = header.lower()
        self.plans = tuple(plans)
        self.lease_seconds = float(lease_seconds)
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        self._holder = secrets.token_hex(8)  # names this gateway's leases in the engine's buckets

    def authorize(self, app: App, headers: Mapping[str, str], scopes: tuple[str, ...]) -> dict[str, Any]:
        verdict = self.admit(app, headers.get(self.header))
        if not verdict.allowed:
            raise Denied(verdict.status, verdict.message, verdict.retry_after or None)
        return {"apiKey": verdict.key_name, "usagePlan": verdict.plan}

    def admit(self, app: App, value: str | None) -> Verdict:
        """Admit one request with key ``value``: from its lease, or by taking a new one."""
        if not value:
            return KeyStore(app.engine).check(value)
        engine = app.engine
        with self._lock:
            now = engine.clock.now()
            lease = self._leases.get(value)
            if lease is not None and lease.engine is engine:
                if lease.left > 0 and now < lease.until and lease.changes == changes():
                    lease.left -= 1
                    return lease.verdict
                returned, period = lease.left, lease.period
            else:
                returned, period = 0, None
            self._leases.pop(value, None)
            grant = KeyStore(engine).take(
                value, plans=self.plans, most=_UNLIMITED, holder=self._holder, returned=returned,
                returned_period=period, lease_seconds=self.lease_seconds)
            if grant.verdict.allowed:
                if len(self._leases) >= _MAX_LEASES:  # many keys: forget the oldest lease
                    self._leases.pop(next(iter(self._leases)))
                self._leases[value] = _Lease(engine, grant.verdict, grant.granted - 1, grant.until,
                                             grant.period, changes())
            return grant.verdict


_UNLIMITED = 1 << 30  # what a lease asks for: the plan decides how much it gets
_MAX_LEASES = 10_000


class _Lease:
    """Requests a gateway process may still admit for one key without the engine."""

    __slots__ = ("changes", "engine", "left", "period", "until", "verdict")

    def __init__(self, engine: Any, verdict: Verdict, left: int, until: float, period: str | None,
                 changes: int) -> None:  # until: engine time
        self.engine = engine
        self.verdict = verdict
        self.left = left
        self.until = until
        self.period = period
        self.changes = changes


class JWTAuth(Authorizer):
    """Bearer JWTs in the ``Authorization`` header.

    Give ``secret`` (HS256) or ``jwks_file`` / ``public_key`` (RS256); ``issuer`` and ``audience``
    are checked when given, ``exp`` always (with ``leeway`` seconds), and a route's ``scopes``
    must all be in the token's ``scope`` (space-separated) or ``scp`` claim.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key: str | None = None,
        jwks_file: str | Path | None = None,
        algorithms: list[str] | tuple[str, ...] = ("HS256",),
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 0,
    ) -> None:
        self.algorithms = [a for a in algorithms]
        if not self.algorithms or any(a.lower() == "none" for a in self.algorithms):
            raise ConfigError("JWTAuth: give real algorithms (HS256, RS256, ...); 'none' is never accepted")
        if secret is None and public_key is None and jwks_file is None:
            raise ConfigError("JWTAuth needs secret=, public_key= or jwks_file=")
        self.secret = secret
        self.public_key = public_key
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._jwks: dict[str, Any] = {}
        if jwks_file is not None:
            try:
                data = json.loads(Path(jwks_file).read_text())
                for entry in data["keys"]:
                    key = jwt.PyJWK(entry)
                    self._jwks[entry.get("kid", "")] = key.key
            except (OSError, ValueError, KeyError, jwt.PyJWKError) as exc:
                raise ConfigError(f"JWTAuth: cannot read JWKS file {jwks_file}: {exc}") from None

    def _key(self, token: str) -> Any:
        if self._jwks:
            try:
                kid = jwt.get_unverified_header(token).get("kid", "")
            except jwt.PyJWTError:
                raise Denied(401, "malformed token") from None
            if kid in self._jwks:
                return self._jwks[kid]
            if len(self._jwks) == 1 and not kid:
                return next(iter(self._jwks.values()))
            raise Denied(401, "the token is signed with an unknown key")
        return self.secret if self.secret is not None else self.public_key

    def authorize(self, app: App, headers: Mapping[str, str], scopes: tuple[str, ...]) -> dict[str, Any]:
        header = headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Denied(401, "missing bearer token (send Authorization: Bearer <jwt>)")
        token = token.strip()
        options = {"require": ["exp"], "verify_aud": self.audience is not None}
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=self._key(token),
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise Denied(401, "the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Denied(401, "the token is not for this audience") from None
        except jwt.InvalidIssuerError:
            raise Denied(401, "the token is from another issuer") from None
        except jwt.PyJWTError as exc:
            raise Denied(401, f"invalid token: {exc}") from None
        granted = claims.get("scope", claims.get("scp", ""))
        granted_set = set(granted.split() if isinstance(granted, str) else granted or [])
        missing = [s for s in scopes if s not in granted_set]
        if missing:
            raise Denied(403, f"the token lacks the scope(s): {', '.join(missing)}")
        return {"jwt": {"claims": claims, "scopes": sorted(granted_set)}}


class FunctionAuth(Authorizer):
    """A custom authorizer: an app function gets ``{"headers", "routeArn"?...}`` (API Gateway's
    simple-response payload 2.0 request) and returns ``{"isAuthorized": bool, "context": {...}}``.
    Results are cached per identity header value for ``ttl`` seconds."""

    def __init__(self, function: str, *, identity_header: str = "authorization", ttl: float = 300) -> None:
        self.function = function
        self.identity_header = identity_header.lower()
        self.ttl = ttl
        self._cache: dict[str, tuple[float, bool, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def authorize(self, app: App, headers: Mapping[str, str], scopes: tuple[str, ...]) -> dict[str, Any]:
        identity = headers.get(self.identity_header)
        if not identity:
            raise Denied(401, f"missing {self.identity_header} header")
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(identity)
        if cached is not None and cached[0] > now:
            allowed, context = cached[1], cached[2]
        else:
            from overcast.errors import FunctionError

            try:
                result = app.invoke(self.function, {"version": "2.0", "type": "REQUEST",
                                                    "identitySource": [identity], "headers": dict(headers)})
            except FunctionError as exc:
                raise Denied(500, f"the authorizer failed: {exc.error_type}") from None
            allowed = isinstance(result, dict) and result.get("isAuthorized") is True
            context = (result.get("context") or {}) if isinstance(result, dict) else {}
            if self.ttl > 0:
                with self._lock:
                    self._cache[identity] = (now + self.ttl, allowed, context)
        if not allowed:
            raise Denied(403, "forbidden")
        return {"lambda": context}
