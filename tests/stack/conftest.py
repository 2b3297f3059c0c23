"""Package fixture for the multi-process tests: one stack (nginx + 2 API + 2 tile processes)
for all of tests/stack, torn down even when a test fails."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_test_env
from tests.stack.harness import Stack


# Package scope, not session: its API processes run the sweeper, and one of them would stay
# the database's elected leader for the rest of the run, so an in-process app of a later
# test (tests/test_reservations.py's 1.5 s holds) would wait on a sweeper it does not run.
@pytest.fixture(scope="package")
def stack(migrated_database: str) -> Iterator[Stack]:
    prefix = Path(tempfile.mkdtemp(prefix="wattsup-stack-"))
    s = Stack(prefix=prefix, env=make_test_env())
    try:
        s.start()
        yield s
    except BaseException:
        for name, tail in s.logs():
            print(f"--- {name} ---\n{tail}")
        raise
    finally:
        s.stop()


@pytest.fixture
def web(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client that talks to nginx only."""
    with httpx.Client(base_url=stack.base_url, timeout=15) as client:
        yield client
