"""Voka's edge: the Envoy configuration, generated from the contracts' descriptor set."""
