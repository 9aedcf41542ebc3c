"""API keys, usage plans and throttling, stored in the engine so limits hold across processes.

A usage plan has a steady ``rate`` (requests per second), a ``burst`` (the token bucket's size)
and an optional ``quota`` per ``day``, ``week`` or ``month``. Keys are stored by the SHA-256 of
their value: a leaked database does not leak keys.

Before changing: a bucket refill, token take and quota count happen in one engine transaction
(``take``), so two gateway processes sharing an engine never both spend the last token. A
gateway takes tokens in leases (``take`` with ``most`` > 1: up to a tenth of a second of the
rate, a tenth of the burst) and spends them in memory, giving back what it did not spend with
its next take: what it admits never exceeds what it took from the engine, so across processes
no key ever gets more than its rate and burst; at worst a process that stops holds back one
lease's worth.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from overcast.engine.base import ABSENT, Engine
from overcast.errors import NotFound, ValidationError

KEYS = "gateway.keys"
PLANS = "gateway.plans"
BUCKETS = "gateway.buckets"
QUOTAS = "gateway.quotas"
PERIODS = ("day", "week", "month")
LEASE_SHARE = 0.1  # a lease takes at most this share of a plan's rate and of its burst
_changes = [0]  # bumped by every change to keys and plans made in this process


def changes() -> int:
    """A counter of key and plan changes made in this process: cached leases older than the
    current value are dropped at once (other processes' changes show within a lease's life)."""
    return _changes[0]


@dataclass(frozen=True)
class UsagePlan:
    name: str
    rate: float | None = None
    burst: int | None = None
    quota: int | None = None
    period: str = "day"

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValidationError(f"usage plan {self.name!r}: rate must be positive")
        if self.burst is not None and self.burst < 1:
            raise ValidationError(f"usage plan {self.name!r}: burst must be at least 1")
        if self.quota is not None and self.quota < 1:
            raise ValidationError(f"usage plan {self.name!r}: quota must be at least 1")
        if self.period not in PERIODS:
            raise ValidationError(f"usage plan {self.name!r}: period must be one of {', '.join(PERIODS)}")


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a key: allowed, or refused with a status and a retry delay."""

    allowed: bool
    status: int = 200
    message: str = ""
    retry_after: float = 0.0
    key_name: str = ""
    plan: str = ""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _period_id(period: str, now: float) -> tuple[str, float]:
    t = time.gmtime(now)
    if period == "day":
        start = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, 0)) - time.timezone
        return time.strftime("%Y-%m-%d", t), start + 86_400
    if period == "week":
        day_start = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, 0)) - time.timezone
        start = day_start - t.tm_wday * 86_400
        return time.strftime("%G-W%V", t), start + 7 * 86_400
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    end = time.mktime((year, month, 1, 0, 0, 0, 0, 0, 0)) - time.timezone
    return time.strftime("%Y-%m", t), end


class KeyStore:
    """Create, list and revoke keys and plans; check a request against its key's plan."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put_plan(self, plan: UsagePlan) -> None:
        def apply(tx: Any) -> None:
            tx.kv_put(PLANS, plan.name, "", {"rate": plan.rate, "burst": plan.burst,
                                             "quota": plan.quota, "period": plan.period})
            tx.kv_put(PLANS, "__index__", plan.name, True)

        self.engine.atomic(apply)
        _changes[0] += 1

    def plans(self) -> list[UsagePlan]:
        rows: list[Any] = []

        def gather(tx: Any) -> None:
            # plans are few: one partition per plan, listed through the key index
            for item in tx.kv_query(PLANS, "__index__", limit=10_000):
                got = tx.kv_get(PLANS, item.sk, "")
                if got is not None:
                    rows.append((item.sk, got.value))

        self.engine.read(gather)
        return [UsagePlan(name, **value) for name, value in rows]

    def create(self, name: str, *, plan: str | None = None, value: str | None = None,
               rate: float | None = None, burst: int | None = None, quota: int | None = None,
               period: str = "day") -> str:
        """Create a key (returning its value, shown once). Limits given here make a plan named
        after the key; ``plan`` names an existing one."""
        if not name or len(name) > 128:
            raise ValidationError("a key name is 1-128 characters")
        value = value or "ock_" + secrets.token_urlsafe(24)
        if len(value) < 20:
            raise ValidationError("an API key value must be at least 20 characters")
        if plan is None and any(v is not None for v in (rate, burst, quota)):
            plan = name
            usage = UsagePlan(plan, rate, burst, quota, period)
        else:
            usage = None

        def apply(tx: Any) -> None:
            if usage is not None:
                tx.kv_put(PLANS, usage.name, "", {"rate": usage.rate, "burst": usage.burst,
                                                  "quota": usage.quota, "period": usage.period})
                tx.kv_put(PLANS, "__index__", usage.name, True)
            elif plan is not None and tx.kv_get(PLANS, plan, "") is None:
                raise NotFound(f"usage plan {plan!r} does not exist")
            if tx.kv_get(KEYS, "__names__", name) is not None:
                raise ValidationError(f"a key named {name!r} already exists")
            tx.kv_put(KEYS, _hash(value), "", {"name": name, "plan": plan, "revoked": False,
                                               "created": tx.now()}, condition=ABSENT)
            tx.kv_put(KEYS, "__names__", name, {"hash": _hash(value), "plan": plan, "revoked": False,
                                                "created": tx.now()})

        self.engine.atomic(apply)
        _changes[0] += 1
        return value

    def list(self) -> list[dict[str, Any]]:
        items = self.engine.read(lambda tx: tx.kv_query(KEYS, "__names__", limit=100_000))
        return [{"name": i.sk, "plan": i.value["plan"], "revoked": i.value["revoked"],
                 "created": i.value["created"]} for i in items]

    def revoke(self, name: str) -> None:
        def apply(tx: Any) -> None:
            entry = tx.kv_get(KEYS, "__names__", name)
            if entry is None:
                raise NotFound(f"no API key named {name!r}")
            tx.kv_put(KEYS, "__names__", name, {**entry.value, "revoked": True})
            key = tx.kv_get(KEYS, entry.value["hash"], "")
            if key is not None:
                tx.kv_put(KEYS, entry.value["hash"], "", {**key.value, "revoked": True})

        self.engine.atomic(apply)
        _changes[0] += 1

    def check(self, value: str | None, *, plans: tuple[str, ...] = ()) -> Verdict:
        """Check a presented key: known, not revoked, in one of ``plans`` (if given), within its
        rate, burst and quota. Spends one token and one quota unit when allowed."""
        return self.take(value, plans=plans).verdict

    def take(
        self, value: str | None, *, plans: tuple[str, ...] = (), most: int = 1, holder: str | None = None,
        returned: int = 0, returned_period: str | None = None, lease_seconds: float = 0.0,
    ) -> Grant:
        """``check`` for up to ``most`` requests at once: a lease for ``holder`` (a gateway),
        usable until the grant's ``until`` (engine time: at most ``lease_seconds`` on, and never
        past the end of the quota period it counts in). ``returned`` requests of the holder's
        previous lease went unspent: their tokens go back to the bucket, and their quota units
        too if ``returned_period`` is still the current one.

        The bucket records what each holder's live lease still holds and refills only up to the
        burst minus that: tokens in the bucket plus tokens in leases never exceed the burst, so
        gateways together never admit more than the burst at once, nor more than the rate over
        time."""
        if not value:
            return Grant(Verdict(False, 401, "missing API key (send it in the x-api-key header)"))
        digest = _hash(value)

        def apply(tx: Any) -> Grant:
            key = tx.kv_get(KEYS, digest, "")
            if key is None or key.value["revoked"]:
                return Grant(Verdict(False, 403, "invalid API key"))
            plan_name = key.value["plan"]
            if plans and plan_name not in plans:
                return Grant(Verdict(False, 403, "this API key's usage plan does not cover this route"))
            verdict = Verdict(True, key_name=key.value["name"], plan=plan_name or "")
            now = tx.now()
            until = now + lease_seconds
            plan_item = None if plan_name is None else tx.kv_get(PLANS, plan_name, "")
            if plan_item is None:
                return Grant(verdict, most, None, until)
            plan = plan_item.value
            granted = most
            tokens = 0.0
            leases: dict[str, list[float]] = {}
            if plan["rate"] is not None:
                rate = plan["rate"]
                burst = plan["burst"] or max(1, math.ceil(rate))
                bucket = tx.kv_get(BUCKETS, digest, "")
                if bucket is None:
                    tokens, updated = burst, now
                else:
                    tokens, updated = bucket.value["tokens"], bucket.value["at"]
                    leases = {h: held for h, held in bucket.value.get("leases", {}).items() if held[1] > now}
                # refill under the cap that held until now (the holder's lease still counted),
                # then take the holder's lease back: what it did not spend returns
                tokens = min(burst - sum(left for left, _ in leases.values()), tokens + (now - updated) * rate)
                leases.pop(holder or "", None)
                tokens = min(burst - sum(left for left, _ in leases.values()), tokens + returned)
                if tokens < 1:
                    return Grant(Verdict(False, 429, "too many requests", retry_after=(1 - tokens) / rate))
                granted = min(granted, int(tokens), max(1, int(min(rate, burst) * LEASE_SHARE)))
            period = None
            if plan["quota"] is not None:
                period, ends = _period_id(plan["period"], now)
                used = tx.kv_get(QUOTAS, digest, period)
                count = 0 if used is None else used.value
                if returned and returned_period == period:
                    count = max(0, count - returned)
                left = plan["quota"] - count
                if left <= 0:
                    return Grant(Verdict(False, 429, f"quota of {plan['quota']} requests per {plan['period']} used up",
                                         retry_after=max(1.0, ends - now)))
                # near the end of a quota, lease little: an unspent lease holds quota back
                granted = min(granted, max(1, left // 10))
                until = min(until, ends)  # units counted in this period are spent in it
                tx.kv_put(QUOTAS, digest, period, count + granted, expires_at=ends + 86_400)
            if plan["rate"] is not None:
                if holder is not None and granted > 1:
                    leases[holder] = [granted - 1, until]  # the first is this request's
                tx.kv_put(BUCKETS, digest, "", {"tokens": tokens - granted, "at": now, "leases": leases},
                          expires_at=now + 3600)
            return Grant(verdict, granted, period, until)

        result: Grant = self.engine.atomic(apply)
        return result


@dataclass(frozen=True)
class Grant:
    """What ``KeyStore.take`` admits: ``granted`` requests (0 when refused), counted in quota
    ``period``, the unspent ones usable until ``until`` (engine time)."""

    verdict: Verdict
    granted: int = 0
    period: str | None = None
    until: float = 0.0
