"""Fixtures for reservations."""
