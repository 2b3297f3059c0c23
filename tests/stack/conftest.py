"""Session fixture for the multi-process tests: one stack (nginx + 2 API + 2 tile processes)
for the whole session, torn down even when a test fails."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_test_env
from tests.stack.harness import Stack


@pytest.fixture(scope="session")
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
