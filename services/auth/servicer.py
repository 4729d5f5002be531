"""The AuthService: one servicer assembled from one class per concern (services/auth/rpcs/)."""

from __future__ import annotations

from services.auth.rpcs.accounts import AccountRpcs
from services.auth.rpcs.admin import AdminRpcs
from services.auth.rpcs.api_keys import ApiKeyRpcs
from services.auth.rpcs.sessions import SessionRpcs
from services.auth.rpcs.signin import SignInRpcs
from services.auth.rpcs.tokens import TokenRpcs


class AuthServicer(SignInRpcs, TokenRpcs, SessionRpcs, AccountRpcs, ApiKeyRpcs, AdminRpcs):
    """Accounts and credentials of the mesh."""
