"""The AuthService RPCs, one module per concern; services/auth/servicer.py joins them."""
