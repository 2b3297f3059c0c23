"""Fixtures for the hardening tests: a database of their own (fuzzing writes junk, fault
injection kills connections: neither may touch the session's database or its pool), a Redis
database of their own, and a private redis-server that a test can stop and start."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import msgspec
import pytest
import redis

from tests.conftest import (
    BASE_URL,
    DATA,
    TEST_DB,
    TEST_REDIS,
    migrate_database,
)
from tests.fixtures_network import SAMPLE_FILES
from wattsup.config import Settings

HARD_DB = f"{TEST_DB}_hard"
# Tile cache keys carry the data version, not the database: another database needs another
# Redis database, or two databases at the same version would share tiles.
HARD_REDIS = TEST_REDIS.rsplit("/", 1)[0] + "/14"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def hard_database(settings: Settings, migrated_database: str) -> Settings:
    """A freshly migrated database of the hardening tests' own, and its settings."""
    subprocess.run(
        [
            "psql",
            f"{BASE_URL}/postgres",
            "-q",
            "-c",
            f'DROP DATABASE IF EXISTS "{HARD_DB}" WITH (FORCE)',
        ],
        check=True,
    )
    migrate_database(f"{BASE_URL}/{HARD_DB}")
    redis.Redis.from_url(HARD_REDIS).flushdb()
    return msgspec.structs.replace(
        settings, database_url=f"{BASE_URL}/{HARD_DB}", redis_url=HARD_REDIS
    )


@pytest.fixture(scope="session")
async def hard_settings(hard_database: Settings) -> Settings:
    """The hardening database with the shipped sample imported, for fuzzing and faults."""
    from wattsup.importer.engine import import_file

    for name in SAMPLE_FILES:
        report = await import_file(hard_database, DATA / name)
        assert report.status == "succeeded", report
    return hard_database


@pytest.fixture(scope="session")
async def hard_pool(hard_settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The tests' own pool on the hardening database. Its connections do not carry the
    application_name 'wattsup', so terminating the app's backends leaves them alone."""
    pool = await asyncpg.create_pool(hard_settings.database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


class PrivateRedis:
    """A redis-server of our own on a free port, that a test may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wattsup-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGKILL, as a crash would: no goodbye to the clients."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


async def wait_for(predicate, within: float = 10.0, every: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every)


# The PostgreSQL wire messages the proxy needs to play a server that is starting up.
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


def _starting_up_error() -> bytes:
    """ErrorResponse FATAL 57P03, what PostgreSQL sends while it replays its WAL."""
    fields = b"".join(
        code + text.encode() + b"\0"
        for code, text in (
            (b"S", "FATAL"),
            (b"V", "FATAL"),
            (b"C", "57P03"),
            (b"M", "the database system is starting up"),
        )
    )
    body = fields + b"\0"
    return b"E" + (len(body) + 4).to_bytes(4, "big") + body


class PgProxy:
    """A TCP proxy in front of PostgreSQL, run in the test's event loop, that a test can
    "restart" without touching the shared server: `crash()` resets every open connection
    (RST, as the clients of a server that went away see it) and stops listening, so new
    connections are refused; `starting_up()` listens again but answers each new connection
    as a server replaying its WAL does (FATAL 57P03 "the database system is starting up");
    `up()` proxies again. Upstream, the backends of the reset connections see their client
    vanish and roll back whatever they had open, as a restart would."""

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.mode = "down"
        self.server: asyncio.AbstractServer | None = None
        self.pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.refused_starting = 0  # connections answered 57P03
        self.accepted = 0

    def url(self, database_url: str) -> str:
        """`database_url` (postgresql://user@127.0.0.1:5432/db) through the proxy."""
        host = f"{self.upstream[0]}:{self.upstream[1]}"
        assert host in database_url, database_url
        return database_url.replace(host, f"127.0.0.1:{self.port}")

    async def _listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def up(self) -> None:
        await self._listen()
        self.mode = "up"

    async def starting_up(self) -> None:
        await self._listen()
        self.mode = "starting"

    async def crash(self) -> int:
        """Stop listening (new connections refused) and reset every open connection.
        Returns how many were reset."""
        self.mode = "down"
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        pairs, self.pairs = list(self.pairs), set()
        for client, server in pairs:
            for writer in (client, server):
                sock = writer.get_extra_info("socket")
                if sock is not None:  # linger 0: close() sends an RST, no goodbye
                    with contextlib.suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                writer.transport.abort()
        return len(pairs)

    async def close(self) -> None:
        await self.crash()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            if self.mode == "starting":
                await self._answer_starting_up(reader, writer)
                return
            if self.mode != "up":
                writer.transport.abort()
                return
            self.accepted += 1
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                writer.transport.abort()
                return
            pair = (writer, up_writer)
            self.pairs.add(pair)
            try:
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                self.pairs.discard(pair)
                for w in pair:
                    w.transport.abort()
        finally:
            self.tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _answer_starting_up(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Negotiate like a real server (no SSL, no GSS), read the start-up packet, refuse
        with 57P03, hang up."""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                length = int.from_bytes(await reader.readexactly(4), "big")
                packet = await reader.readexactly(length - 4)
                code = int.from_bytes(packet[:4], "big")
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    writer.write(b"N")
                    await writer.drain()
                    continue
                self.refused_starting += 1
                writer.write(_starting_up_error())
                await writer.drain()
                break
        writer.close()


@pytest.fixture
async def pg_proxy() -> AsyncIterator[PgProxy]:
    proxy = PgProxy()
    await proxy.up()
    try:
        yield proxy
    finally:
        await proxy.close()
