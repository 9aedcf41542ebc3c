"""Authorizers never let through what they should not: JWTs, API keys, custom functions."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest

from overcast.gateway import KeyStore, UsagePlan
from tests.apps import web


def token(**overrides: object) -> str:
    claims = {"sub": "alice", "iss": "https://id.example", "aud": "shop", "exp": time.time() + 60,
              "scope": "orders:read orders:write"}
    claims.update(overrides)
    return jwt.encode(claims, web.SECRET, algorithm="HS256")


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def test_valid_jwt(client: httpx.Client) -> None:
    r = client.get("/private", headers=bearer(token()))
    assert r.status_code == 200 and r.json() == {"sub": "alice"}


@pytest.mark.parametrize("case", ["missing", "garbage", "wrong-secret", "expired", "tampered", "alg-none",
                                  "wrong-audience", "wrong-issuer", "no-exp", "basic-scheme"])
def test_bad_jwts_are_refused(client: httpx.Client, case: str) -> None:
    good = token()
    headers: dict[str, str]
    if case == "missing":
        headers = {}
    elif case == "garbage":
        headers = bearer("not.a.jwt")
    elif case == "wrong-secret":
        headers = bearer(jwt.encode({"sub": "x", "exp": time.time() + 60, "iss": "https://id.example",
                                     "aud": "shop"}, "another-secret-that-is-long-enough!!", algorithm="HS256"))
    elif case == "expired":
        headers = bearer(token(exp=time.time() - 10))
    elif case == "tampered":
        head, payload, sig = good.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["sub"] = "mallory"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        headers = bearer(f"{head}.{forged}.{sig}")
    elif case == "alg-none":
        unsigned = jwt.encode({"sub": "x", "exp": time.time() + 60, "iss": "https://id.example", "aud": "shop",
                               "scope": "orders:read"}, None, algorithm="none")
        headers = bearer(unsigned)
    elif case == "wrong-audience":
        headers = bearer(token(aud="other"))
    elif case == "wrong-issuer":
        headers = bearer(token(iss="https://evil.example"))
    elif case == "no-exp":
        claims = {"sub": "alice", "iss": "https://id.example", "aud": "shop", "scope": "orders:read"}
        headers = bearer(jwt.encode(claims, web.SECRET, algorithm="HS256"))
    else:
        headers = {"authorization": f"Basic {good}"}
    r = client.get("/private", headers=headers)
    assert r.status_code == 401, r.text
    assert "message" in r.json()


def test_missing_scope_is_forbidden(client: httpx.Client) -> None:
    r = client.get("/private", headers=bearer(token(scope="orders:write")))
    assert r.status_code == 403 and "orders:read" in r.json()["message"]


def test_api_keys_and_usage_plans(client: httpx.Client) -> None:
    keys = KeyStore(web.app.engine)
    keys.put_plan(UsagePlan("gold", rate=1000, burst=1000))
    gold = keys.create("gold-client", plan="gold")
    free = keys.create("free-client")
    assert client.get("/keyed").status_code == 401
    assert client.get("/keyed", headers={"x-api-key": "ock_wrong_wrong_wrong_wrong"}).status_code == 403
    assert client.get("/keyed", headers={"x-api-key": free}).json() == {"keyed": True}
    assert client.get("/gold", headers={"x-api-key": gold}).status_code == 200
    other_plan = client.get("/gold", headers={"x-api-key": free})
    assert other_plan.status_code == 403 and "usage plan" in other_plan.json()["message"]
    keys.revoke("free-client")
    assert client.get("/keyed", headers={"x-api-key": free}).status_code == 403
    assert [k["name"] for k in keys.list()] == ["free-client", "gold-client"]


def test_throttling_returns_429_at_the_configured_rate(client: httpx.Client) -> None:
    keys = KeyStore(web.app.engine)
    value = keys.create("bursty", rate=2, burst=5)
    codes = [client.get("/keyed", headers={"x-api-key": value}).status_code for _ in range(12)]
    # the burst lets 5 through at once (plus what the rate refills during the loop), then 429
    assert codes[:5] == [200] * 5
    assert 429 in codes
    assert codes.count(200) <= 7
    limited = client.get("/keyed", headers={"x-api-key": value})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    time.sleep(1.1)
    assert client.get("/keyed", headers={"x-api-key": value}).status_code == 200


def test_quota(client: httpx.Client) -> None:
    value = KeyStore(web.app.engine).create("quota-client", rate=1000, burst=1000, quota=3, period="day")
    codes = [client.get("/keyed", headers={"x-api-key": value}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_custom_authorizer_with_caching(client: httpx.Client) -> None:
    assert client.get("/custom").status_code == 401
    denied = client.get("/custom", headers={"authorization": "nope"})
    assert denied.status_code == 403
    first = client.get("/custom", headers={"authorization": "let-me-in"})
    assert first.status_code == 200 and first.json() == {"auth": {"lambda": {"user": "alice"}}}
    client.get("/custom", headers={"authorization": "let-me-in"})
    calls = [m.body["token"] for m in web.calls.receive(10)]
    assert sorted(calls) == ["let-me-in", "nope"]  # the second let-me-in came from the cache
