"""The first program of every sandboxed run: it fences itself in, then becomes the test
runner (exec), so every process the tests start inherits the fence.

Run by the sandbox as ``python -I launcher.py CONFIG_JSON REPORT_FD -- COMMAND...`` in a
fresh, single-threaded process (no preexec_fn in the threaded server). Standard library
only, no imports from this package: it runs before anything else is trusted. In order:

1. resource limits (CPU seconds, address space or data size, processes, file size,
   open files, no core dumps);
2. a pids cgroup, when the sandbox made one (root ignores RLIMIT_NPROC);
3. no network: a new, empty network namespace (``unshare(CLONE_NEWNET)``; unprivileged
   users first enter a new user namespace), when the kernel permits it;
4. Landlock (Linux 5.13+): reads only where the config allows (system folders, the
   interpreter), writes only in the run's folder, no TCP connect/bind, no signals to
   processes outside the sandbox;
5. the parent's death kills the runner (PR_SET_PDEATHSIG).

What was really in force is written as JSON to REPORT_FD before exec, so the result can
say it; a step the platform refuses is reported, never fatal.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
from typing import Any

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

# Landlock (include/uapi/linux/landlock.h); the syscall numbers are the same on every
# architecture.
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
FS_MAKE_SYM, FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 12, 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _Ruleset(ctypes.Structure):
    _fields_ = (("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64))


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def set_limits(limits: dict[str, int]) -> list[str]:
    """Apply the resource limits; returns the ones in force, as words."""
    done: list[str] = []
    table = (("cpu_s", resource.RLIMIT_CPU, "CPU {} s"),
             ("address_space", resource.RLIMIT_AS, "address space {} bytes"),
             ("data", resource.RLIMIT_DATA, "data {} bytes"),
             ("processes", resource.RLIMIT_NPROC, "processes {}"),
             ("file_size", resource.RLIMIT_FSIZE, "file size {} bytes"),
             ("open_files", resource.RLIMIT_NOFILE, "open files {}"))
    for key, which, words in table:
        value = limits.get(key)
        if not value:
            continue
        try:
            _soft, hard = resource.getrlimit(which)
            cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
            extra = 1 if which == resource.RLIMIT_CPU else 0  # SIGXCPU, then SIGKILL
            resource.setrlimit(which, (cap, cap + extra if hard == resource.RLIM_INFINITY
                                       or cap + extra <= hard else cap))
            done.append(words.format(cap))
        except (ValueError, OSError):
            pass
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return done


def join_cgroup(procs_file: str) -> bool:
    try:
        with open(procs_file, "w") as handle:
            handle.write(str(os.getpid()))
        return True
    except OSError:
        return False


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def isolate_network(libc: Any) -> str:
    """A new, empty network namespace (no interface is up, not even loopback)."""
    if libc.unshare(CLONE_NEWNET) == 0:
        return "new network namespace"
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return ""
    try:  # map ourselves to ourselves, so files we write keep our owner
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError:
        pass
    return "new user and network namespaces"


def landlock(libc: Any, read: list[str], write: list[str], devices: list[str]
             ) -> dict[str, str]:
    """Restrict this process and its children with Landlock; {} when unsupported."""
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(CREATE_RULESET_VERSION))
    if abi < 1:
        return {}
    fs = (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_READ_DIR | FS_REMOVE_DIR
          | FS_REMOVE_FILE | FS_MAKE_CHAR | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SOCK
          | FS_MAKE_FIFO | FS_MAKE_BLOCK | FS_MAKE_SYM)
    if abi >= 2:
        fs |= FS_REFER
    if abi >= 3:
        fs |= FS_TRUNCATE
    if abi >= 5:
        fs |= FS_IOCTL_DEV
    net = (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0
    attr = _Ruleset(fs, net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        return {}
    read_access = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
    try:
        device_access = FS_READ_FILE | FS_WRITE_FILE
        for paths, access in ((read, read_access), (write, fs), (devices, device_access)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = access if os.path.isdir(path) else access & FILE_ONLY
                    rule = _PathBeneath(allowed & fs, fd)
                    libc.syscall(SYS_ADD_RULE, ctypes.c_int(ruleset),
                                 ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule),
                                 ctypes.c_uint32(0))
                finally:
                    os.close(fd)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return {}
    finally:
        os.close(ruleset)
    report = {"filesystem": f"Landlock ABI {abi}: reads {len(read)} allowed folders, "
                            "writes only the run's folder"}
    if net:
        report["tcp"] = "TCP connect and bind denied (Landlock)"
    if scoped:
        report["signals"] = "no signals to processes outside the sandbox (Landlock)"
    return report


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    report_fd = int(argv[2])
    command = argv[argv.index("--") + 1:]
    libc = _libc()
    report: dict[str, Any] = {"limits": set_limits(config.get("limits", {}))}
    cgroup = config.get("cgroup")
    report["cgroup"] = bool(cgroup) and join_cgroup(cgroup)
    if config.get("network", True):
        report["network"] = isolate_network(libc)
    if config.get("landlock", True):
        report.update(landlock(libc, config.get("read", []), config.get("write", []),
                               config.get("devices", [])))
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    report["user"] = f"uid {os.getuid()}"
    os.write(report_fd, json.dumps(report).encode())
    os.close(report_fd)
    try:
        os.execvp(command[0], command)
    except OSError as err:
        print(f"the sandbox could not start {command[0]}: {err}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
