"""Run one command on code nobody has reviewed: a child process group in a folder of its
own, with limits, without network or the user's secrets, and nothing left behind.

Knows nothing of tests or of LSP: it takes a command and a folder and says what happened
and which isolation was really in force (`Isolation`). The fence itself is put up by
launcher.py inside the child, before the command starts (see its docstring); this side
chooses the limits, scrubs the environment, caps the output, enforces the wall time,
honours cancel, and afterwards kills every process the run started (its process group,
its cgroup, and any process still carrying the run's marker variable).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsp_server.validation.leftovers import (
    PidsCgroup,
    group_members,
    marked_pids,
    own_process_count,
)

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("launcher.py")
MARKER = "STARCODER_SANDBOX_RUN"
# Folders every runner may read (besides its interpreter's installation).
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
               "/etc/localtime", "/etc/alternatives", "/etc/ssl")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Limits:
    """Per run. Memory is address space, so it also bounds what one allocation asks for."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_bytes: int = 2 << 30
    processes: int = 64
    file_bytes: int = 16 << 20
    open_files: int = 256
    output_bytes: int = 256 << 10

    def as_dict(self) -> dict[str, Any]:
        return {"wallSeconds": self.wall_s, "cpuSeconds": self.cpu_s,
                "memoryBytes": self.memory_bytes, "processes": self.processes,
                "fileBytes": self.file_bytes, "outputBytes": self.output_bytes}


@dataclass
class SandboxResult:
    exit_code: int | None  # None: killed by us (time-out, output cap, cancel)
    output: str  # stdout and stderr together, capped
    timed_out: bool = False
    output_capped: bool = False
    cancelled: bool = False
    duration_s: float = 0.0
    isolation: dict[str, Any] = field(default_factory=dict)
    leftovers_killed: int = 0

    @property
    def stopped(self) -> str:
        """Why we stopped it, in words ("" when it ended by itself)."""
        if self.cancelled:
            return "cancelled"
        if self.timed_out:
            return f"stopped after {self.isolation.get('limits', {}).get('wallSeconds', '?')} s"
        if self.output_capped:
            return "stopped: it wrote more output than the cap"
        return ""


def scrubbed_env(folder: Path, extra: dict[str, str] | None = None,
                 path_dirs: Sequence[str] = ()) -> dict[str, str]:
    """An environment built from nothing: none of the user's variables (API keys, tokens,
    cloud credentials) reach the code under test."""
    path = ":".join([*path_dirs, SAFE_PATH])
    env = {"PATH": path, "HOME": str(folder), "TMPDIR": str(folder), "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "TERM": "dumb", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONIOENCODING": "utf-8", "PYTHONHASHSEED": "0", "NO_COLOR": "1"}
    env.update(extra or {})
    return env


class Sandbox:
    """Runs commands under `limits`; `read` adds folders the command may read."""

    def __init__(self, limits: Limits | None = None, *, read: Sequence[str] = (),
                 network: bool = True, landlock: bool = True) -> None:
        self.limits = limits or Limits()
        self.read = tuple(read)
        self.network = network
        self.landlock = landlock

    def run(self, command: Sequence[str], folder: Path, *, cancel: threading.Event | None = None,
            env: dict[str, str] | None = None, path_dirs: Sequence[str] = ()
            ) -> SandboxResult:
        if sys.platform != "linux":
            raise OSError("the validation sandbox needs Linux")
        run_id = uuid.uuid4().hex
        cgroup = PidsCgroup.create(run_id, self.limits.processes) if os.geteuid() == 0 else None
        limits = self.limits
        config = {
            "limits": {
                "cpu_s": limits.cpu_s, "address_space": limits.memory_bytes,
                "processes": own_process_count() + limits.processes,
                "file_size": limits.file_bytes, "open_files": limits.open_files,
            },
            "cgroup": cgroup.procs_file if cgroup else None,
            "network": self.network,
            "landlock": self.landlock,
            "read": [p for p in (*SYSTEM_READ, *self.read) if os.path.exists(p)],
            "write": [str(folder)],
            "devices": [d for d in DEVICES if os.path.exists(d)],
        }
        report_read, report_write = os.pipe()
        environment = {**scrubbed_env(folder, env, path_dirs), MARKER: run_id}
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(config),
                 str(report_write), "--", *command],
                cwd=folder, env=environment, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True, pass_fds=(report_write,),
            )
        except OSError:
            os.close(report_read)
            os.close(report_write)
            if cgroup:
                cgroup.remove()
            raise
        os.close(report_write)
        output = _CappedReader(process, limits.output_bytes)
        result = SandboxResult(exit_code=None, output="")
        try:
            result.isolation = _read_report(report_read)
            self._wait(process, output, result, cancel, started)
        finally:
            result.leftovers_killed = _kill_everything(process, run_id, cgroup)
            output.join()
            result.duration_s = time.monotonic() - started
        result.output = output.text()
        result.output_capped = result.output_capped or output.capped
        result.isolation = describe(result.isolation, limits, cgroup is not None)
        return result

    def _wait(self, process: subprocess.Popen[bytes], output: _CappedReader,
              result: SandboxResult, cancel: threading.Event | None, started: float) -> None:
        deadline = started + self.limits.wall_s
        while True:
            try:
                result.exit_code = process.wait(0.02)
                return
            except subprocess.TimeoutExpired:
                pass
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                return
            if output.capped:
                result.output_capped = True
                return
            if time.monotonic() > deadline:
                result.timed_out = True
                return


def _read_report(fd: int) -> dict[str, Any]:
    """What the launcher put in force (it closes its end right before exec)."""
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    try:
        report = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        report = {}
    return report if isinstance(report, dict) else {}


def _kill_everything(process: subprocess.Popen[bytes], run_id: str,
                     cgroup: PidsCgroup | None) -> int:
    """SIGKILL the process group and the cgroup, then every process still carrying the
    marker (one that left the group), until none is left. Returns how many processes
    besides the runner itself were alive at the end of the run."""
    others: set[int] = set()
    for _ in range(100):
        # Group and cgroup first: reading the environment of processes that are forking
        # as fast as they can stalls on their memory lock; /proc/PID/stat does not.
        found = set(group_members(process.pid))
        if cgroup is not None:
            found.update(cgroup.pids())
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        _kill(found)
        escaped = set(marked_pids(run_id)) - found
        _kill(escaped)
        found |= escaped
        if process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(1)
        found.discard(process.pid)
        others |= found
        if not found and process.poll() is not None:
            break
        time.sleep(0.01)
    if cgroup is not None:
        cgroup.remove()
    return len(others)


def _kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


class _CappedReader:
    """Reads the child's output on a thread, keeping the first `cap` bytes."""

    def __init__(self, process: subprocess.Popen[bytes], cap: int) -> None:
        self.cap = cap
        self.capped = False
        self._chunks: list[bytes] = []
        self._size = 0
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._read, name="sandbox-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stream = self._stream
        if stream is None:
            return
        try:
            while chunk := stream.read1(65536):  # type: ignore[attr-defined]
                if self._size < self.cap:
                    self._chunks.append(chunk[: self.cap - self._size])
                self._size += len(chunk)
                if self._size > self.cap:
                    self.capped = True
        except (OSError, ValueError):
            pass

    def join(self) -> None:
        self._thread.join(5)
        if self._stream is not None:
            self._stream.close()

    def text(self) -> str:
        text = b"".join(self._chunks).decode("utf-8", "replace")
        if self.capped:
            text += f"\n[output cut at {self.cap:,} bytes]"
        return text


def describe(report: dict[str, Any], limits: Limits, cgroup: bool) -> dict[str, Any]:
    """The isolation that was in force, in words a user can check (the result's
    `isolation` field)."""
    network = report.get("network") or ""
    tcp = report.get("tcp", "")
    if network:
        net_words = f"none ({network}: no interface, not even loopback)"
    elif tcp:
        net_words = f"partly: {tcp}; UDP and Unix sockets not blocked"
    else:
        net_words = "NOT isolated: this system allows no network namespace or Landlock"
    processes = (f"at most {limits.processes} (cgroup pids.max)" if report.get("cgroup")
                 else f"at most {limits.processes} more (RLIMIT_NPROC)"
                 if os.geteuid() != 0 else
                 "NOT limited: running as root without a writable pids cgroup")
    return {
        "network": net_words,
        "filesystem": report.get("filesystem")
        or "NOT isolated: no Landlock here; the tests can read what you can read",
        "signals": report.get("signals") or "not scoped: the tests could signal your processes",
        "processes": processes,
        "user": report.get("user", ""),
        "environment": "scrubbed: only PATH, HOME/TMPDIR (the run's folder), locale",
        "limits": limits.as_dict(),
        "inForce": report.get("limits", []),
    }
