"""The sandbox against hostile candidates, with real processes: each is stopped or
contained within its limit, nothing is left running, and the verdict says why in words.

Each case goes through the Python runner (the harness imports the candidate file, then
runs its tests), as a candidate would during validation.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from lsp_server.validation.report import MODEL, TestCase
from lsp_server.validation.runners import PythonRunner, Unit, python_read_paths
from lsp_server.validation.sandbox import Limits, Sandbox

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("no_leftovers")]

WALL = 4.0
READ = python_read_paths(sys.executable)
CALL = [TestCase(MODEL, "model test: assert f() is None", "assert f() is None")]


def runner(**limits: float) -> PythonRunner:
    return PythonRunner(sys.executable, Limits(wall_s=limits.get("wall_s", WALL)))


def check(code: str, tests: list[TestCase] = CALL, **limits: float):
    return runner(**limits).check(Unit("candidate.py", code), tests)


def test_a_correct_candidate_passes_quickly() -> None:
    verdict = check("def f():\n    return None\n")
    assert verdict.passed and verdict.summary() == "1/1 tests pass"
    assert verdict.duration_s < WALL


def test_an_infinite_loop_is_stopped_within_the_wall_limit() -> None:
    # SIGALRM ignored, so the harness' per-test timer cannot stop it: the sandbox must.
    code = ("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
            "def f():\n    while True:\n        pass\n")
    started = time.monotonic()
    verdict = check(code)
    assert time.monotonic() - started < WALL + 5
    assert not verdict.passed
    assert f"stopped after {WALL}" in verdict.failing_output()


def test_a_hung_test_is_stopped_and_the_next_test_still_runs() -> None:
    code = "def f():\n    while True:\n        pass\n\ndef g():\n    return 1\n"
    tests = [CALL[0], TestCase(MODEL, "model test: assert g() == 1", "assert g() == 1")]
    verdict = check(code, tests)
    assert [r.passed for r in verdict.results] == [False, True]
    assert "time limit" in verdict.results[0].output


def test_a_fork_bomb_is_contained_and_leaves_nothing() -> None:
    code = ("import os\ndef f():\n    while True:\n        try:\n            os.fork()\n"
            "        except OSError:\n            pass\n")
    started = time.monotonic()
    verdict = check(code)
    assert time.monotonic() - started < WALL + 10
    assert not verdict.passed
    assert "processes" in verdict.isolation
    # The no_leftovers fixture checks that every forked process is gone.


def test_a_10_gb_allocation_fails_within_the_memory_limit() -> None:
    verdict = check("def f():\n    data = bytearray(10 * 2**30)\n    return None\n")
    assert not verdict.passed
    assert "MemoryError" in verdict.failing_output()
    assert verdict.duration_s < WALL


def test_no_connection_reaches_a_listener_on_127_0_0_1() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = (f"import socket\ndef f():\n    socket.create_connection(('127.0.0.1', {port}), "
            "timeout=2).sendall(b'secret')\n")
    try:
        verdict = check(code)
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()
    assert not verdict.passed
    network = verdict.isolation["network"]
    assert network.startswith(("none", "partly")), network
    assert any(word in verdict.failing_output() for word in
               ("PermissionError", "Network is unreachable", "OSError", "ConnectionRefused"))


def test_a_file_outside_its_folder_cannot_be_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the-user-secret-42")
    verdict = check(f"def f():\n    print(open({str(secret)!r}).read())\n")
    if verdict.isolation["filesystem"].startswith("NOT isolated"):
        pytest.skip("no Landlock on this kernel; the result says so: "
                    + verdict.isolation["filesystem"])
    assert not verdict.passed
    assert "the-user-secret-42" not in verdict.failing_output() + verdict.output
    assert "Permission denied" in verdict.failing_output()


def test_100_mb_of_output_is_cut_at_the_cap_and_the_run_stopped() -> None:
    code = ("import sys\nsys.stdout = sys.__stdout__\n"
            "for _ in range(100):\n    sys.__stdout__.write('x' * 2**20)\n"
            "def f():\n    return None\n")
    started = time.monotonic()
    verdict = check(code)
    assert time.monotonic() - started < WALL
    assert not verdict.passed
    assert "more output than the cap" in verdict.failing_output()
    assert len(verdict.output) < 2 * Limits().output_bytes


def test_the_users_secrets_are_not_in_the_environment(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-tests-123")
    monkeypatch.setenv("STARCODER_API_KEY", "sc-not-for-tests-456")
    code = ("import os\ndef f():\n    text = repr(dict(os.environ))\n"
            "    assert 'not-for-tests' not in text, text\n")
    verdict = check(code)
    assert verdict.passed, verdict.failing_output()


def test_cancel_kills_the_whole_group_at_once(tmp_path: Path) -> None:
    (tmp_path / "run.py").write_text(
        "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        break\n"
        "time.sleep(60)\n")
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    result = Sandbox(Limits(wall_s=30), read=READ).run([sys.executable, "run.py"], tmp_path,
                                           cancel=cancel)
    assert result.cancelled and result.stopped == "cancelled"
    assert time.monotonic() - started < 5
    assert result.leftovers_killed >= 3


def test_a_process_that_left_the_group_is_still_killed(tmp_path: Path) -> None:
    (tmp_path / "run.py").write_text(
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n")
    result = Sandbox(Limits(wall_s=10), read=READ).run([sys.executable, "run.py"], tmp_path)
    assert result.exit_code == 0
    assert result.leftovers_killed == 1


def test_the_isolation_report_says_what_was_in_force(tmp_path: Path) -> None:
    (tmp_path / "run.py").write_text("print('hi')\n")
    result = Sandbox(read=READ).run([sys.executable, "run.py"], tmp_path)
    assert result.output.strip() == "hi"
    iso = result.isolation
    for key in ("network", "filesystem", "processes", "signals", "environment", "limits"):
        assert iso[key], key
    assert iso["limits"]["wallSeconds"] == Limits().wall_s


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None
                    or not Path("/usr/bin/python3").exists(),
                    reason="needs root (to run the check as an unprivileged user) and setpriv")
def test_an_unprivileged_user_gets_the_same_fence() -> None:
    """As a normal user: RLIMIT_NPROC refuses the fork bomb's forks, and a user namespace
    gives the network namespace."""
    repo = Path(__file__).resolve().parents[2]
    folder = Path(tempfile.mkdtemp(prefix="starcoder-as-user-"))
    folder.chmod(0o755)  # pytest's own tmp_path is private to root
    script = folder / "as_user.py"
    script.write_text(
        "import sys, tempfile, pathlib\n"
        f"sys.path.insert(0, {str(repo)!r})\n"
        "from lsp_server.validation.sandbox import Sandbox, Limits\n"
        "code = 'import os\\nwhile True:\\n    try:\\n        os.fork()\\n    except OSError"
        " as e:\\n        print(\"refused\", e.errno, flush=True)\\n        break\\n"
        "import time\\ntime.sleep(30)\\n'\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    folder = pathlib.Path(d)\n"
        "    (folder / 't.py').write_text(code)\n"
        "    r = Sandbox(Limits(wall_s=4)).run(['/usr/bin/python3', 't.py'], folder)\n"
        "    print('PROCESSES', r.isolation['processes'])\n"
        "    print('NETWORK', r.isolation['network'])\n"
        "    print('REFUSED', 'refused 11' in r.output)\n")
    script.chmod(0o644)
    try:
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               "/usr/bin/python3", str(script)], capture_output=True,
                              text=True, timeout=60, cwd="/tmp", check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert "RLIMIT_NPROC" in done.stdout
    assert "REFUSED True" in done.stdout, done.stdout
