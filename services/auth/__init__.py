"""The auth service: accounts, tokens, API keys, roles, sessions and the audit log."""
