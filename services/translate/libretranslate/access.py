"""Who is calling a LibreTranslate route: a credential in the headers, as for every RPC (the
identity hook has verified it already), or LibreTranslate's `api_key` in the body, verified
here by the kit (voka.authn.sign_in: the same verifier, API keys resolved by the auth service,
and the same rate limit). Refusals are LibreTranslate's: no key is 400, a bad key 403."""

from __future__ import annotations

import grpc

from services.translate.libretranslate import refusals
from voka import authn, errors

NO_KEY = "Please contact the server operator to get an API key"
BAD_KEY = "Invalid API key"


async def authenticate(api_key: str) -> authn.Identity:
    """The caller, from the headers or `api_key`; both at once is ambiguous and refused."""
    present = authn.optional_caller()
    if present is not None and api_key:
        raise refusals.invalid("api_key", "Invalid request: send api_key or a credential header")
    if present is not None:
        return present
    if not api_key:
        raise refusals.invalid("api_key", NO_KEY)
    try:
        return await authn.sign_in(api_key)
    except errors.VokaError as exc:
        if exc.code != grpc.StatusCode.UNAUTHENTICATED:
            raise  # the auth service unreachable, the rate limit: not the key's fault
        raise errors.permission_denied(BAD_KEY) from None
