"""Fixtures for tiles."""
