"""Fixtures for accounts: users, sessions, vehicles."""
