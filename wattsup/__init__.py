"""Shared core of Watts Up: configuration, database and Redis plumbing, the IRVE import engine
and the `wattsup` command. The two web apps (`api`, `tileserver`) stand on it."""
