"""The AuthService: one servicer assembled from one class per resource of the contract (and
the sign-in flow), so each module holds the handlers of one resource."""

from __future__ import annotations

from services.auth.rpcs.api_keys import ApiKeyRpcs
from services.auth.rpcs.audit_events import AuditEventRpcs
from services.auth.rpcs.preferences import PreferencesRpcs
from services.auth.rpcs.sessions import SessionRpcs
from services.auth.rpcs.signin import SignInRpcs
from services.auth.rpcs.tokens import TokenRpcs
from services.auth.rpcs.users import UserRpcs


class AuthServicer(
    SignInRpcs, TokenRpcs, SessionRpcs, UserRpcs, PreferencesRpcs, ApiKeyRpcs, AuditEventRpcs
):
    """Accounts and credentials of the mesh."""
