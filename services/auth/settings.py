"""The auth service's settings: the kit's, plus token lifetimes and the brute-force limits.

Every variable has a default that works on one machine; the keys are generated on first start.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field

from voka.config import Settings


class AuthSettings(Settings):
    """`VOKA_AUTH_*` variables on top of the shared ones."""

    auth_keys_dir: Path | None = Field(
        default=None,
        description="Signing keys (generated on first start, 0600); empty: <data_dir>/auth/keys.",
    )
    auth_access_token_seconds: int = Field(default=900, description="Lifetime of an access JWT.")
    auth_key_retire_grace_seconds: int = Field(
        default=300,
        description="After a rotation the old signing key stays published for one access-token "
        "lifetime plus this grace (replicas that have not reloaded the ring yet).",
    )
    auth_keys_poll_seconds: float = Field(
        default=2.0, description="How often the service re-reads the key ring for rotations."
    )
    auth_refresh_token_seconds: int = Field(
        default=14 * 24 * 3600, description="Lifetime of a refresh token unless used."
    )
    auth_session_max_seconds: int = Field(
        default=30 * 24 * 3600, description="Longest a session lives, refreshes or not."
    )
    auth_lockout_threshold: int = Field(
        default=10, description="Failed logins in a row that lock an account."
    )
    auth_lockout_seconds: int = Field(default=900, description="How long a lockout lasts.")
    auth_ip_login_failures: int = Field(
        default=100, description="Failed logins per client address per window before refusal."
    )
    auth_ip_registrations: int = Field(
        default=20, description="Registrations per client address per window."
    )
    auth_ip_window_seconds: int = Field(
        default=900, description="Window of the per-address limits."
    )
    auth_api_key_max_days: int = Field(default=365, description="Longest lifetime of an API key.")
    auth_api_key_cache_seconds: int = Field(
        default=60, description="How long services may cache an API key's identity."
    )

    auth_service_secrets: dict[str, str] = Field(
        default_factory=dict,
        description="SHA-256 (hex) of each service's own secret, by domain, for "
        'IssueServiceToken: \'{"translate": "<sha256 hex>"}\'; empty: no service tokens.',
    )

    @cached_property
    def key_retire_seconds(self) -> float:
        """How long a retired signing key stays in the JWKS."""
        return float(self.auth_access_token_seconds + self.auth_key_retire_grace_seconds)

    @cached_property
    def keys_dir(self) -> Path:
        return self.auth_keys_dir or self.data_dir / "auth" / "keys"
