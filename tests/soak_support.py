"""Helpers for the soak test and the load bench: a real `serve --workers N`, its processes.

Linux only (reads /proc). Nothing here mocks the application: the server is the real CLI,
the database and index are the ones given in the environment.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

CLI = [sys.executable, "-m", "resource_centre"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONSONANTS = "bcdfghjklmnpqrtvz"  # made-up words no French stemmer shortens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def made_up_word(rng: random.Random) -> str:
    """A word found in no fiche: 'kw' and six consonants (stemming leaves it alone)."""
    return "kw" + "".join(rng.choice(CONSONANTS) for _ in range(6))


class Server:
    """`resource-centre serve --workers N` on a free loopback port, in its own session."""

    def __init__(self, env: dict[str, str], cwd: Path, workers: int, log: Path) -> None:
        self.env, self.cwd, self.workers, self.log_path = env, cwd, workers, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.worker_pids()) == self.workers:
                try:
                    if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start; see {self.log_path}")

    def worker_pids(self) -> set[int]:
        """The live worker processes (uvicorn's spawned children of the master)."""
        if self.proc is None:
            return set()
        return {
            pid
            for pid in children(self.proc.pid)
            if b"spawn_main" in _read_bytes(f"/proc/{pid}/cmdline")
        }

    def all_pids(self) -> set[int]:
        """The master and every process it started (workers, resource tracker)."""
        if self.proc is None:
            return set()
        return {self.proc.pid, *children(self.proc.pid)}

    def cpu_seconds(self) -> float:
        """User + system CPU time of the master and all its children so far."""
        return sum(cpu_seconds(pid) for pid in self.all_pids())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _stat_fields(pid: int) -> list[str]:
    raw = _read_bytes(f"/proc/{pid}/stat").decode()
    if not raw:
        return []
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on


def children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if len(fields) > 1 and int(fields[1]) == parent:
                found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if len(fields) < 13:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def index_generation(index_dir: Path) -> tuple[str, int]:
    """The `current` link's target and the highest Whoosh TOC generation inside it."""
    target = os.readlink(index_dir / "current")
    numbers = [
        int(m.group(1))
        for name in os.listdir(index_dir / target)
        if (m := re.fullmatch(r"_MAIN_(\d+)\.toc", name))
    ]
    return target, max(numbers, default=-1)


def fiche_markdown(template: str, title: str, summary: str) -> str:
    """A published fiche: `template`'s front matter and sections, another title and summary."""
    text = re.sub(r"(?m)^title: .*$", f"title: {title}", template, count=1)
    text = re.sub(r"(?m)^summary: .*$", f"summary: {summary}", text, count=1)
    text = re.sub(r"(?m)^featured: .*$", "featured: false", text, count=1)
    return text
