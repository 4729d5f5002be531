"""Token verification and access rules of the kit, against real Ed25519-signed JWTs."""

from __future__ import annotations

import base64
import json
import time

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.tokens import TokenFactory
from voka import authn, errors
from voka.api.v1 import options_pb2


def _verifier(tokens: TokenFactory) -> authn.TokenVerifier:
    return authn.TokenVerifier(authn.JwksCache(authn.jwks_from_file(tokens.jwks_file)))


async def _refused(verifier: authn.TokenVerifier, token: str) -> str:
    with pytest.raises(errors.VokaError) as err:
        await verifier.verify(token)
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    return err.value.message


async def test_good_token_gives_identity(tokens: TokenFactory):
    identity = await _verifier(tokens).verify(tokens.mint("users/bob", roles=("admin",)))
    assert identity.subject == "users/bob"
    assert identity.is_admin
    assert not identity.is_service


async def test_expired_token_is_refused(tokens: TokenFactory):
    assert "expired" in await _refused(_verifier(tokens), tokens.mint(ttl=-60))


async def test_token_signed_by_another_key_is_refused(tokens: TokenFactory):
    forged = tokens.mint(key=Ed25519PrivateKey.generate())
    assert "invalid token" in await _refused(_verifier(tokens), forged)


async def test_tampered_claims_are_refused(tokens: TokenFactory):
    header, payload, signature = tokens.mint(roles=("user",)).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["admin"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    message = await _refused(_verifier(tokens), f"{header}.{forged_payload}.{signature}")
    assert "invalid token" in message


async def test_unknown_kid_is_refused(tokens: TokenFactory):
    assert "unknown key" in await _refused(_verifier(tokens), tokens.mint(kid="nope"))


async def test_alg_none_and_hmac_are_refused(tokens: TokenFactory):
    claims = {"sub": "users/eve", "aud": authn.AUDIENCE, "iss": authn.ISSUER}
    unsigned = jwt.encode(claims, key=None, algorithm="none", headers={"kid": tokens.kid})
    assert "'none'" in await _refused(_verifier(tokens), unsigned)
    hmac = jwt.encode(claims, "s" * 32, algorithm="HS256", headers={"kid": tokens.kid})
    assert "'HS256'" in await _refused(_verifier(tokens), hmac)


async def test_wrong_audience_or_issuer_is_refused(tokens: TokenFactory):
    verifier = _verifier(tokens)
    assert "invalid token" in await _refused(verifier, tokens.mint(aud="someone-else"))
    assert "invalid token" in await _refused(verifier, tokens.mint(iss="evil"))


async def test_garbage_is_refused(tokens: TokenFactory):
    assert "malformed" in await _refused(_verifier(tokens), "not-a-jwt")


async def test_jwks_refresh_failure_keeps_known_keys(tokens: TokenFactory):
    calls = {"n": 0}
    good = authn.jwks_from_file(tokens.jwks_file)

    async def flaky() -> authn.Jwks:
        calls["n"] += 1
        if calls["n"] > 1:
            raise errors.unavailable("auth is down")
        return await good()

    cache = authn.JwksCache(flaky, ttl=0.0, min_refresh=0.0)
    verifier = authn.TokenVerifier(cache)
    assert (await verifier.verify(tokens.mint())).subject == "users/alice"
    assert (await verifier.verify(tokens.mint())).subject == "users/alice"
    assert calls["n"] >= 2


async def test_a_verified_token_is_checked_once_until_it_expires_but_revocation_always(
    tokens: TokenFactory, monkeypatch: pytest.MonkeyPatch
):
    decoded = {"n": 0}
    decode = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        decoded["n"] += 1
        return decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(authn.jwt, "decode", counting)
    revoked: set[str] = set()

    async def is_revoked(identity: authn.Identity) -> bool:
        return identity.token_id in revoked

    cache = authn.JwksCache(authn.jwks_from_file(tokens.jwks_file))
    verifier = authn.TokenVerifier(cache, revoked=is_revoked)
    token = tokens.mint(ttl=60)
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first
    assert decoded["n"] == 1  # the second call came from the cache
    revoked.add(first.token_id)
    assert "revoked" in await _refused(verifier, token)  # cached, and still cut off at once
    revoked.clear()
    later = time.time() + 120
    monkeypatch.setattr(authn.time, "time", lambda: later)
    assert await verifier.verify(token) == first  # past its `exp`, checked again in full
    assert decoded["n"] == 2


async def test_jwks_source_down_with_nothing_cached_is_unavailable(tokens: TokenFactory):
    async def down() -> authn.Jwks:
        raise errors.unavailable("auth is down")

    verifier = authn.TokenVerifier(authn.JwksCache(down))
    with pytest.raises(errors.VokaError) as err:
        await verifier.verify(tokens.mint())
    assert err.value.code == grpc.StatusCode.UNAVAILABLE


async def test_unknown_kid_refetches_at_most_once_per_interval(tokens: TokenFactory):
    fetches = {"n": 0}
    good = authn.jwks_from_file(tokens.jwks_file)

    async def counting() -> authn.Jwks:
        fetches["n"] += 1
        return await good()

    cache = authn.JwksCache(counting, ttl=300, min_refresh=60)
    for _ in range(5):
        assert await cache.key("unknown") is None
    assert fetches["n"] == 1


@pytest.mark.parametrize(
    ("rule", "subject", "roles", "expected"),
    [
        (options_pb2.ACCESS_PUBLIC, None, (), None),
        (options_pb2.ACCESS_AUTHENTICATED, None, (), grpc.StatusCode.UNAUTHENTICATED),
        (options_pb2.ACCESS_UNSPECIFIED, None, (), grpc.StatusCode.UNAUTHENTICATED),
        (options_pb2.ACCESS_AUTHENTICATED, "users/a", ("user",), None),
        (options_pb2.ACCESS_ADMIN, "users/a", ("user",), grpc.StatusCode.PERMISSION_DENIED),
        (options_pb2.ACCESS_ADMIN, "users/a", ("admin",), None),
        (options_pb2.ACCESS_SERVICE, "users/a", ("admin",), grpc.StatusCode.PERMISSION_DENIED),
        (options_pb2.ACCESS_SERVICE, "services/tasks", ("service",), None),
    ],
)
def test_access_rules(rule, subject, roles, expected):
    identity = subject and authn.Identity(subject, frozenset(roles), "jti", 0.0)
    if expected is None:
        authn.enforce(rule, identity or None)
        return
    with pytest.raises(errors.VokaError) as err:
        authn.enforce(rule, identity or None)
    assert err.value.code == expected


def test_access_rule_is_read_from_the_contract():
    from voka.auth.v1 import auth_pb2  # noqa: F401  (loads the descriptors)

    assert authn.access_of("/voka.auth.v1.AuthService/Login") == options_pb2.ACCESS_PUBLIC
    assert authn.access_of("/voka.auth.v1.AuthService/ListUsers") == options_pb2.ACCESS_ADMIN
    assert authn.access_of("/grpc.health.v1.Health/Check") == options_pb2.ACCESS_PUBLIC
