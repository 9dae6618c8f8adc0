"""Finding and killing what a sandboxed run left behind, and the pids cgroup that caps a
run's processes where RLIMIT_NPROC cannot (the kernel ignores it for root).

A run's processes all carry its marker variable in their environment (unless one clears
it), and stay in its cgroup and usually in its process group; the sandbox kills all three
ways, so a child that called setsid() or daemonized is still found.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

PROC = Path("/proc")


def own_process_count() -> int:
    """Processes of our user (RLIMIT_NPROC counts them all, so the limit adds to this)."""
    uid = os.getuid()
    count = 0
    try:
        entries = os.listdir(PROC)
    except OSError:
        return 0
    for name in entries:
        if name.isdigit():
            try:
                if os.stat(PROC / name).st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


def group_members(pgid: int) -> list[int]:
    """Processes in process group `pgid` (from /proc/PID/stat, which never blocks)."""
    found: list[int] = []
    try:
        entries = os.listdir(PROC)
    except OSError:
        return found
    for name in entries:
        if not name.isdigit():
            continue
        try:
            stat = (PROC / name / "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid).encode():
            found.append(int(name))
    return found


def marked_pids(marker: str) -> list[int]:
    """Processes whose environment holds `marker` (ours only: /proc/PID/environ of other
    users' processes is not readable)."""
    needle = marker.encode()
    found: list[int] = []
    me = os.getpid()
    try:
        entries = os.listdir(PROC)
    except OSError:
        return found
    for name in entries:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            data = (PROC / name / "environ").read_bytes()
        except OSError:
            continue
        if needle in data:
            found.append(int(name))
    return found


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, filesystem type, super options) of each mount."""
    out: list[tuple[str, str, str]] = []
    try:
        lines = (PROC / "self" / "mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3:
            out.append((fields[4], tail[0], tail[2]))
    return out


def _own_cgroups() -> dict[str, str]:
    """Controller list ("" for cgroup v2) -> our cgroup path."""
    paths: dict[str, str] = {}
    try:
        lines = (PROC / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[parts[1]] = parts[2]
    return paths


class PidsCgroup:
    """A cgroup with pids.max for one run (v2 where pids is delegated to us, else v1)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def procs_file(self) -> str:
        return str(self.path / "cgroup.procs")

    @classmethod
    def create(cls, run_id: str, limit: int) -> PidsCgroup | None:
        own = _own_cgroups()
        for mount, kind, options in _mounts():
            if kind == "cgroup2" and "" in own:
                parent = Path(mount + own[""])
                try:
                    delegated = "pids" in (parent / "cgroup.subtree_control").read_text()
                except OSError:
                    delegated = False
                if delegated:
                    made = cls._make(parent, run_id, limit)
                    if made:
                        return made
            if kind == "cgroup" and "pids" in options.split(","):
                key = next((k for k in own if "pids" in k.split(",")), None)
                if key is not None:
                    made = cls._make(Path(mount + own[key]), run_id, limit)
                    if made:
                        return made
        return None

    @classmethod
    def _make(cls, parent: Path, run_id: str, limit: int) -> PidsCgroup | None:
        path = parent / f"starcoder-sandbox-{run_id}"
        try:
            path.mkdir()
        except OSError:
            return None
        try:
            (path / "pids.max").write_text(str(limit))
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path)

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in Path(self.procs_file).read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self) -> int:
        killed = 0
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        return killed

    def remove(self) -> None:
        for _ in range(100):
            if not self.kill_all():
                break
        with contextlib.suppress(OSError):
            self.path.rmdir()
