"""RS256 tokens checked against keys from a JWKS file."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from overcast import App
from overcast.gateway import JWTAuth
from overcast.gateway.server import GatewayServer


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return (rsa.generate_private_key(public_exponent=65537, key_size=2048),
            rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, keys: tuple) -> Iterator[str]:  # type: ignore[type-arg]
    folder = tmp_path_factory.mktemp("jwks")
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys[0].public_key()))
    jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
    (folder / "keys.json").write_text(json.dumps({"keys": [jwk]}))
    app = App("jwks", engine=f"sqlite:///{folder / 'jwks.db'}")
    app.authorizer("jwks", JWTAuth(jwks_file=folder / "keys.json", algorithms=["RS256"],
                                   issuer="https://id.example", audience="shop"))
    app.route("GET", "/secure", mock={"status": 200, "body": {"ok": True}}, auth="jwks")
    server = GatewayServer(app, port=0)
    server.start()
    yield f"http://127.0.0.1:{server.bound_port}"
    server.stop()
    server.join(10)
    app.close()


def sign(key: rsa.RSAPrivateKey, kid: str = "k1", **claims: object) -> str:
    body = {"sub": "bob", "iss": "https://id.example", "aud": "shop", "exp": time.time() + 60, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def test_rs256_from_jwks(base_url: str, keys: tuple) -> None:  # type: ignore[type-arg]
    good, other = keys
    ok = httpx.get(f"{base_url}/secure", headers={"authorization": f"Bearer {sign(good)}"})
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    for token in [sign(other), sign(good, kid="unknown"), sign(good, exp=time.time() - 5),
                  jwt.encode({"sub": "x", "exp": time.time() + 60, "iss": "https://id.example", "aud": "shop"},
                             "a-shared-secret-is-not-an-rsa-key!!", algorithm="HS256", headers={"kid": "k1"})]:
        r = httpx.get(f"{base_url}/secure", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text


def test_bad_jwks_file_is_a_clear_error(tmp_path: Path) -> None:
    from overcast import ConfigError

    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="JWKS"):
        JWTAuth(jwks_file=tmp_path / "bad.json", algorithms=["RS256"])
    with pytest.raises(ConfigError, match="none"):
        JWTAuth(secret="s", algorithms=["none"])
