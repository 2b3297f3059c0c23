"""The production shape on one machine: nginx (Debian's) with the project's config in front of
two API processes and two tile processes, all on the real PostgreSQL and Redis of the tests.

Every process runs in its own session (process group) with its output in a log file under a
temporary prefix; `Stack.stop()` ends them all (SIGTERM, then SIGKILL after a bounded wait),
and the fixture calls it even when a test or the start-up fails. A test run killed from
outside (SIGKILL, a CI timeout) runs no fixture: its stack keeps the fixed ports, so the
running stack is recorded in OWNER_FILE, and the next start ends a stack whose test run is
gone before waiting for the ports."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from nginx.render import write_standalone

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"

# Area `stack` owns ports 18700-18799.
NGINX_PORT = 18700
API_PORTS = (18711, 18712)
TILE_PORTS = (18721, 18722)

# The stack now running on these ports: the test run's pid and its processes' groups.
OWNER_FILE = Path("/tmp") / f"wattsup-stack-{os.getuid()}.json"

START_TIMEOUT = 40.0
STOP_TIMEOUT = 8.0

LOG_LINE = re.compile(
    r'^(?P<addr>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d+) \d+ '
    r"rt=\S+ up=(?P<upstream>\S+) ups=(?P<upstream_status>\S+) .* cache=(?P<cache>\S*)$"
)


class StackError(RuntimeError):
    pass


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    port: int
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class LogEntry:
    method: str
    path: str
    status: int
    upstream: str  # "127.0.0.1:18711", "-" when nginx answered itself
    cache: str

    @property
    def upstream_port(self) -> int | None:
        last = self.upstream.split(",")[-1].strip()
        return int(last.rsplit(":", 1)[1]) if ":" in last else None


@dataclass
class Stack:
    prefix: Path
    env: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{NGINX_PORT}"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    # -- start / stop -----------------------------------------------------------------------

    def start(self) -> None:
        if shutil.which("nginx") is None:
            raise StackError("nginx is not installed (Debian: apt-get install nginx-light)")
        _end_orphaned_stack()
        for port in (NGINX_PORT, *API_PORTS, *TILE_PORTS):
            _wait_port_free(port)
        conf = write_standalone(
            self.prefix,
            listen=f"127.0.0.1:{NGINX_PORT}",
            api=[f"127.0.0.1:{p}" for p in API_PORTS],
            tiles=[f"127.0.0.1:{p}" for p in TILE_PORTS],
            static_root=STATIC,
            # The tests play a load balancer: they name the client in X-Forwarded-For, so that
            # each simulated person has their own address for nginx's and the app's limits.
            trusted_proxies=["127.0.0.1"],
        )
        for i, port in enumerate(API_PORTS):
            self._add_app(f"api{i + 1}", "api.app:create_app", port)
        for i, port in enumerate(TILE_PORTS):
            self._add_app(f"tiles{i + 1}", "tileserver.app:create_app", port)
        self.processes["nginx"] = Process(
            "nginx",
            ["nginx", "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"],
            self.prefix / "nginx.out",
            NGINX_PORT,
        )
        for proc in self.processes.values():
            self._spawn(proc)
        for proc in self.processes.values():
            self.wait_healthy(proc.name)

    def _record_owner(self) -> None:
        groups = [p.popen.pid for p in self.processes.values() if p.popen is not None]
        OWNER_FILE.write_text(json.dumps({"owner": os.getpid(), "groups": groups}))

    def _add_app(self, name: str, factory: str, port: int) -> None:
        argv = [
            sys.executable, "-m", "uvicorn", factory, "--factory",
            "--host", "127.0.0.1", "--port", str(port),
            # nginx is on 127.0.0.1: trust its X-Forwarded-For/-Proto (uvicorn's default list).
            "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
            "--no-access-log", "--timeout-graceful-shutdown", "3",
        ]  # fmt: skip
        self.processes[name] = Process(name, argv, self.prefix / f"{name}.log", port)

    def _spawn(self, proc: Process) -> None:
        with proc.log.open("ab") as out:
            proc.popen = subprocess.Popen(
                proc.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._record_owner()  # at every spawn: a restarted process has a new group

    def wait_healthy(self, name: str, timeout: float = START_TIMEOUT) -> None:
        proc = self.processes[name]
        url = f"http://127.0.0.1:{proc.port}/health"
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not proc.alive():
                raise StackError(f"{name} exited during start-up:\n{proc.tail()}")
            try:
                r = httpx.get(url, timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise StackError(f"{name} not healthy after {timeout}s ({last}):\n{proc.tail()}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one process the hard way (as a crash or an OOM kill would)."""
        proc = self.processes[name]
        if proc.popen is None:
            return
        _signal_group(proc.popen, sig)
        try:
            proc.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(proc.popen, signal.SIGKILL)
            proc.popen.wait(timeout=STOP_TIMEOUT)

    def restart(self, name: str) -> None:
        proc = self.processes[name]
        if proc.alive():
            self.kill(name, signal.SIGTERM)
        _wait_port_free(proc.port)
        self._spawn(proc)
        self.wait_healthy(name)

    def stop(self) -> None:
        procs = [p.popen for p in self.processes.values() if p.popen is not None]
        for popen in procs:
            if popen.poll() is None:
                _signal_group(popen, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for popen in procs:
            try:
                popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(popen, signal.SIGKILL)
                popen.wait(timeout=STOP_TIMEOUT)
        OWNER_FILE.unlink(missing_ok=True)

    # -- observing ---------------------------------------------------------------------------

    def app_pids(self, prefix: str) -> dict[str, int]:
        return {
            n: p.popen.pid
            for n, p in self.processes.items()
            if n.startswith(prefix) and p.popen is not None and p.alive()
        }

    def log_position(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def log_since(
        self,
        position: int,
        *,
        at_least: int = 0,
        where: Callable[[LogEntry], bool] = lambda e: True,
        timeout: float = 3.0,
    ) -> list[LogEntry]:
        """Access-log entries written after `position` that match `where`. nginx writes a
        line once the response is sent, so a client can be faster than the log: wait (up to
        `timeout`) until at least `at_least` entries are there."""
        deadline = time.monotonic() + timeout
        while True:
            entries = [e for e in self._read_log(position) if where(e)]
            if len(entries) >= at_least or time.monotonic() > deadline:
                return entries
            time.sleep(0.05)

    def _read_log(self, position: int) -> list[LogEntry]:
        with self.access_log.open("rb") as fh:
            fh.seek(position)
            text = fh.read().decode("utf-8", errors="replace")
        out = []
        for line in text.splitlines():
            m = LOG_LINE.match(line)
            if m is None:
                continue
            method, _, rest = m["request"].partition(" ")
            out.append(
                LogEntry(
                    method=method,
                    path=rest.rsplit(" ", 1)[0],
                    status=int(m["status"]),
                    upstream=m["upstream"],
                    cache=m["cache"],
                )
            )
        return out

    def name_of_port(self, port: int | None) -> str:
        return next((n for n, p in self.processes.items() if p.port == port), "?")

    def logs(self) -> Iterator[tuple[str, str]]:
        for name, proc in self.processes.items():
            yield name, proc.tail()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, sig)


def _end_orphaned_stack() -> None:
    """End the stack of a test run that no longer exists (killed before its fixture could
    stop it). A stack whose run is alive (a run going on beside this one) is left alone."""
    try:
        record = json.loads(OWNER_FILE.read_text())
        owner, groups = int(record["owner"]), [int(g) for g in record["groups"]]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return
    if owner != os.getpid() and _alive(owner):
        return
    for group in groups:
        if _is_stack_process(group):  # a pid reused since by something else is not ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
    OWNER_FILE.unlink(missing_ok=True)


def _is_stack_process(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"wattsup-stack-" in argv or (b"uvicorn" in argv and b"app:create_app" in argv)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_port_free(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"port {port} is still in use (a stack from an earlier run?)"
                    ) from None
        time.sleep(0.2)
