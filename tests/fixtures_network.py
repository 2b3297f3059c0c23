"""Fixtures for the IRVE network: the real sample imported once, factories for stations."""
