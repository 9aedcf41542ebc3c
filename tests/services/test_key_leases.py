"""API-key admission by leases: what gateways sharing an engine admit together never exceeds the
plan's burst, rate and quota, and what a lease did not spend goes back."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from overcast.clock import ManualClock
from overcast.engine.base import Engine
from overcast.gateway.auth import APIKeyAuth
from overcast.gateway.keys import BUCKETS, KEYS, KeyStore, _hash


def admitted(auth: APIKeyAuth, app: Any, value: str, n: int) -> list[int]:
    return [auth.admit(app, value).status for _ in range(n)]


def test_two_gateways_never_admit_more_than_the_burst(engine: Engine) -> None:
    app = SimpleNamespace(engine=engine)
    value = KeyStore(engine).create("shared", rate=1000, burst=100)
    first, second = APIKeyAuth(lease_seconds=60), APIKeyAuth(lease_seconds=60)  # two processes
    codes = []
    for _ in range(80):  # the clock stands still: no refill
        codes += [first.admit(app, value).status, second.admit(app, value).status]  # type: ignore[arg-type]
    assert codes.count(200) == 100 and set(codes) == {200, 429}
    # leases of a tenth of the burst: far fewer engine writes than requests
    bucket = engine.read(lambda tx: tx.kv_get(BUCKETS, _hash(value), ""))
    assert bucket.value["tokens"] < 1


def test_an_unspent_lease_goes_back_to_the_bucket(engine: Engine, clock: ManualClock) -> None:
    app = SimpleNamespace(engine=engine)
    value = KeyStore(engine).create("returning", rate=1000, burst=100)
    auth = APIKeyAuth(lease_seconds=0)  # every request takes a new lease, returning the last
    assert admitted(auth, app, value, 100) == [200] * 100
    assert auth.admit(app, value).status == 429  # type: ignore[arg-type]
    clock.advance(0.0505)  # 50.5 tokens come back at 1000/s
    assert admitted(auth, app, value, 50).count(200) == 50
    assert auth.admit(app, value).status == 429  # type: ignore[arg-type]


def test_a_quota_is_exact_across_gateways(engine: Engine) -> None:
    app = SimpleNamespace(engine=engine)
    value = KeyStore(engine).create("quota", rate=10_000, burst=10_000, quota=25)
    first, second = APIKeyAuth(lease_seconds=60), APIKeyAuth(lease_seconds=60)
    codes = []
    for _ in range(20):
        codes += [first.admit(app, value).status, second.admit(app, value).status]  # type: ignore[arg-type]
    assert codes.count(200) == 25 and codes.count(429) == 15


def test_a_revocation_from_elsewhere_applies_within_the_lease(engine: Engine, clock: ManualClock) -> None:
    app = SimpleNamespace(engine=engine)
    value = KeyStore(engine).create("revoked-elsewhere", rate=10_000, burst=10_000)
    auth = APIKeyAuth(lease_seconds=0.3)
    assert auth.admit(app, value).allowed  # type: ignore[arg-type]

    def revoke(tx: Any) -> None:  # as another process's `overcast keys revoke` would
        key = tx.kv_get(KEYS, _hash(value), "")
        tx.kv_put(KEYS, _hash(value), "", {**key.value, "revoked": True})

    engine.atomic(revoke)
    assert auth.admit(app, value).allowed  # type: ignore[arg-type]  # still within its lease
    clock.advance(0.35)
    assert auth.admit(app, value).status == 403  # type: ignore[arg-type]
    # a revocation in this process applies at once
    other = KeyStore(engine).create("revoked-here", rate=10_000, burst=10_000)
    assert auth.admit(app, other).allowed  # type: ignore[arg-type]
    KeyStore(engine).revoke("revoked-here")
    assert auth.admit(app, other).status == 403  # type: ignore[arg-type]


def test_a_lease_held_while_the_bucket_refills_never_adds_to_the_burst(engine: Engine, clock: ManualClock) -> None:
    app = SimpleNamespace(engine=engine)
    value = KeyStore(engine).create("refilled", rate=1000, burst=100)
    first, second = APIKeyAuth(lease_seconds=60), APIKeyAuth(lease_seconds=60)
    assert first.admit(app, value).allowed  # type: ignore[arg-type]  # takes a lease of 10, spends 1
    clock.advance(0.5)  # long enough to refill the bucket many times over
    codes = [second.admit(app, value).status for _ in range(200)]  # type: ignore[arg-type]
    codes += [first.admit(app, value).status for _ in range(20)]  # type: ignore[arg-type]
    assert codes.count(200) == 100  # the burst, not the burst plus what the lease held
    alone = KeyStore(engine).create("alone", rate=1000, burst=100)
    only = APIKeyAuth(lease_seconds=60)
    assert only.admit(app, alone).allowed  # type: ignore[arg-type]
    clock.advance(0.5)
    assert [only.admit(app, alone).status for _ in range(300)].count(200) == 100  # type: ignore[arg-type]


def test_a_lease_ends_with_its_quota_period(engine: Engine, clock: ManualClock) -> None:
    app = SimpleNamespace(engine=engine)
    value = KeyStore(engine).create("daily", quota=100, period="day")
    auth = APIKeyAuth()  # leases of up to a tenth of what is left, for up to a second
    day = 86_400.0
    clock.advance(day - clock.now() % day - 0.5)  # half a second before midnight (UTC)
    assert auth.admit(app, value).allowed  # type: ignore[arg-type]  # a lease of 10, counted today
    clock.advance(0.6)  # tomorrow, within the lease's second
    assert [auth.admit(app, value).status for _ in range(200)].count(200) == 100  # type: ignore[arg-type]
