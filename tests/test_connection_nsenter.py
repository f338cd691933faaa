"""The stand's podman_nsenter connection: a stopped or missing container is unreachable, a running
one is entered with nsenter and a clean environment."""

from __future__ import annotations

import importlib.util
import marshal
import os
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from ansible.errors import AnsibleConnectionFailure
from ansible.utils.display import Display

PLUGIN = Path(__file__).resolve().parents[1] / "stand" / "plugins" / "connection" / "podman_nsenter.py"
_spec = importlib.util.spec_from_file_location("podman_nsenter", PLUGIN)
nsenter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nsenter)


@pytest.mark.parametrize(
    ("stdout", "pid"),
    [
        (b"1234 true\n", 1234),
        (b"0 false\n", None),  # stopped
        (b"4321 false\n", None),
        (b"0 true\n", None),
        (b"", None),
        (b"garbage\n", None),
    ],
)
def test_parse_inspect(stdout: bytes, pid: int | None) -> None:
    assert nsenter.parse_inspect(stdout) == pid


def test_process_start_of_this_process_and_of_none() -> None:
    assert nsenter.process_start(os.getpid()) is not None
    # pid_max is at most 2**22: this pid cannot exist.
    assert nsenter.process_start(2**22 + 1) is None


def connection(monkeypatch, tmp_path: Path, name: str = "pgrepl-node2"):
    monkeypatch.setattr(nsenter, "CACHE_DIR", str(tmp_path))
    conn = nsenter.Connection.__new__(nsenter.Connection)
    conn._pid = None
    conn._start = None
    conn._connected = False
    options = {"remote_addr": name, "podman_executable": "podman", "remote_user": None}
    conn.get_option = options.get
    return conn


def fake_run(returncode: int, stdout: bytes = b"", stderr: bytes = b""):
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)

    return run, calls


def test_a_stopped_container_is_unreachable(monkeypatch, tmp_path: Path) -> None:
    conn = connection(monkeypatch, tmp_path)
    run, _ = fake_run(0, b"0 false\n")
    monkeypatch.setattr(nsenter.subprocess, "run", run)
    with pytest.raises(AnsibleConnectionFailure, match="container pgrepl-node2 is not running"):
        conn._inspect_pid()


def test_a_missing_container_is_unreachable(monkeypatch, tmp_path: Path) -> None:
    conn = connection(monkeypatch, tmp_path, "pgrepl-node9")
    run, _ = fake_run(
        125, b"", b'Error: no container with name or ID "pgrepl-node9" found: no such container\n'
    )
    monkeypatch.setattr(nsenter.subprocess, "run", run)
    with pytest.raises(AnsibleConnectionFailure, match="no such container"):
        conn._inspect_pid()


def test_podman_failing_for_another_reason_is_not_a_down_host(monkeypatch, tmp_path: Path) -> None:
    conn = connection(monkeypatch, tmp_path)
    run, _ = fake_run(125, b"", b"Error: acquiring lock 3 for container: resource temporarily unavailable\n")
    monkeypatch.setattr(nsenter.subprocess, "run", run)
    with pytest.raises(nsenter.AnsibleError, match="inspect pgrepl-node2 failed") as raised:
        conn._inspect_pid()
    assert not isinstance(raised.value, AnsibleConnectionFailure)


def test_the_pid_is_cached_with_its_start_time(monkeypatch, tmp_path: Path) -> None:
    conn = connection(monkeypatch, tmp_path)
    run, calls = fake_run(0, f"{os.getpid()} true\n".encode())
    monkeypatch.setattr(nsenter.subprocess, "run", run)
    pid, start = conn._inspect_pid()
    assert pid == os.getpid() and start == nsenter.process_start(os.getpid())
    assert len(calls) == 1
    assert conn._cached_pid() == (os.getpid(), start)
    # Another start time under the same pid is another process: the cache is not used.
    (tmp_path / "pgrepl-node2").write_text(f"{os.getpid()} 1\n")
    assert conn._cached_pid() is None


def test_a_command_that_fails_is_its_own_result(monkeypatch, tmp_path: Path) -> None:
    conn = connection(monkeypatch, tmp_path)
    conn._pid, conn._start = os.getpid(), nsenter.process_start(os.getpid())
    run, calls = fake_run(2, b"out", b"psql: error: connection refused\n")
    monkeypatch.setattr(nsenter.subprocess, "run", run)
    assert conn._run(["psql"]) == (2, b"out", b"psql: error: connection refused\n")
    argv = calls[0]
    assert argv[:3] == ["nsenter", "--target", str(os.getpid())]
    # The controller's environment does not leak in: env -i with the host's own PATH.
    assert argv[argv.index("/usr/bin/env") + 1] == "-i"
    assert argv[-1] == "psql"


def test_a_host_that_died_before_the_command_is_unreachable(monkeypatch, tmp_path: Path) -> None:
    conn = connection(monkeypatch, tmp_path)
    conn._pid, conn._start, conn._connected = 2**22 + 1, b"1", True
    run, _ = fake_run(1, b"", b"nsenter: cannot open /proc/4194305/ns/ipc: No such file or directory\n")
    monkeypatch.setattr(nsenter.subprocess, "run", run)
    with pytest.raises(AnsibleConnectionFailure, match="is not running"):
        conn._run(["true"])
    # The next use looks the host up again instead of trying the dead process.
    assert conn._pid is None and not conn._connected


def test_a_host_killed_during_the_command_is_unreachable(monkeypatch, tmp_path: Path) -> None:
    conn = connection(monkeypatch, tmp_path)
    # Our own pid with another start time: the process the connection entered is gone.
    conn._pid, conn._start = os.getpid(), b"1"
    run, _ = fake_run(-9, b"", b"")
    monkeypatch.setattr(nsenter.subprocess, "run", run)
    with pytest.raises(AnsibleConnectionFailure, match="is not running"):
        conn._run(["sleep", "60"])


def test_a_zombie_init_is_not_alive(monkeypatch, tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    start = nsenter.process_start(child.pid)
    try:
        for _ in range(100):  # until it has exited and waits to be reaped
            stat = Path(f"/proc/{child.pid}/stat").read_bytes()
            if stat[stat.rindex(b")") + 2 :].split()[0] == b"Z":
                break
            time.sleep(0.01)
        assert not nsenter.process_alive(child.pid, start)
    finally:
        child.wait()
    assert nsenter.process_alive(os.getpid(), nsenter.process_start(os.getpid()))


def test_another_user_runs_through_runuser(monkeypatch, tmp_path: Path) -> None:
    conn = connection(monkeypatch, tmp_path)
    conn.get_option = {"remote_addr": "h", "podman_executable": "podman", "remote_user": "postgres"}.get
    conn._pid = 1
    assert conn._argv(["id"])[-5:] == ["runuser", "-u", "postgres", "--", "id"]


# A module wrapper in miniature: a __future__ import first, a payload zip put
# first on sys.path, a package imported from it (as Ansible's AnsiballZ does).
WRAPPER = """from __future__ import annotations
_ANSIBALLZ_WRAPPER = True
import sys
sys.path.insert(0, sys.argv[1])
import payload
print(payload.VALUE)
try:
    payload.fail()
except RuntimeError as exc:
    print(exc.__traceback__.tb_next.tb_frame.f_code.co_filename)
"""


PLANTED = "VALUE = 7\ndef fail():\n    raise RuntimeError('x')\n"


def payload_zip(path: Path, value: int) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("payload/__init__.py", f"VALUE = {value}\ndef fail():\n    raise RuntimeError('x')\n")
    return path


def run_wrapper(stdin: bytes, payload: Path, root: Path) -> list[str]:
    proc = subprocess.run(
        ["python3", "-", str(payload)],
        input=stdin,
        capture_output=True,
        env={"PATH": os.environ["PATH"], "OTUS_PGREPL_BYTECODE_ROOT": str(root)},
        check=True,
    )
    return proc.stdout.decode().split()


def test_only_a_module_wrapper_gets_the_prelude() -> None:
    assert nsenter.with_bytecode_cache(b"echo hi") == b"echo hi"
    assert nsenter.with_bytecode_cache(None) is None
    wrapped = nsenter.with_bytecode_cache(WRAPPER.encode())
    assert wrapped.startswith(nsenter.BYTECODE_PRELUDE.encode())
    compile(wrapped, "<stdin>", "exec")  # the wrapper's __future__ import does not break it


def test_modules_are_compiled_once_and_keep_their_own_path(tmp_path: Path) -> None:
    wrapped = nsenter.with_bytecode_cache(WRAPPER.encode())
    first = payload_zip(tmp_path / "one.zip", 42)
    assert run_wrapper(wrapped, first, tmp_path) == ["42", f"{first}/payload/__init__.py"]
    (folder,) = tmp_path.glob("otus-pgrepl-bytecode-*")
    assert folder.stat().st_mode & 0o777 == 0o700
    (cached,) = folder.iterdir()
    # The next run takes the code from the folder (planted here to tell), under its own payload's path.
    cached.write_bytes(marshal.dumps(compile(PLANTED, "x", "exec")))
    second = payload_zip(tmp_path / "two.zip", 42)
    assert run_wrapper(wrapped, second, tmp_path) == ["7", f"{second}/payload/__init__.py"]
    # Other source, other entry: a changed module is never served old code.
    assert run_wrapper(wrapped, payload_zip(tmp_path / "three.zip", 43), tmp_path)[0] == "43"
    assert len(list(folder.iterdir())) == 2


def test_a_folder_others_can_write_is_not_used(tmp_path: Path) -> None:
    wrapped = nsenter.with_bytecode_cache(WRAPPER.encode())
    run_wrapper(wrapped, payload_zip(tmp_path / "one.zip", 42), tmp_path)
    (folder,) = tmp_path.glob("otus-pgrepl-bytecode-*")
    (cached,) = folder.iterdir()
    cached.write_bytes(marshal.dumps(compile(PLANTED, "x", "exec")))
    folder.chmod(0o777)
    assert run_wrapper(wrapped, payload_zip(tmp_path / "two.zip", 42), tmp_path)[0] == "42"


def test_the_cache_can_be_turned_off(monkeypatch, tmp_path: Path) -> None:
    sent = []

    def run(argv, **kwargs):
        sent.append(kwargs["input"])
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    monkeypatch.setattr(nsenter.subprocess, "run", run)
    for cache in (True, False):
        conn = connection(monkeypatch, tmp_path)
        conn._pid, conn._start, conn._connected = os.getpid(), nsenter.process_start(os.getpid()), True
        conn._display = Display()
        conn.get_option = {"remote_addr": "pgrepl-node2", "remote_user": None, "bytecode_cache": cache}.get
        conn.exec_command("/usr/bin/python3", in_data=WRAPPER.encode())
    assert sent[0].startswith(nsenter.BYTECODE_PRELUDE.encode())
    assert sent[1] == WRAPPER.encode()


def test_the_local_connection_of_the_tests_sends_the_prelude_too(monkeypatch) -> None:
    path = PLUGIN.parent / "local_compiled.py"
    spec = importlib.util.spec_from_file_location("local_compiled", path)
    local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(local)
    sent = []

    def parent(self, cmd, in_data=None, sudoable=True):
        sent.append(in_data)

    monkeypatch.setattr(local.LocalConnection, "exec_command", parent)
    conn = local.Connection.__new__(local.Connection)
    conn.exec_command("/usr/bin/python3", in_data=WRAPPER.encode())
    conn.exec_command("echo", in_data=None)
    assert sent[0].startswith(nsenter.BYTECODE_PRELUDE.encode()) and sent[1] is None


def test_a_running_container_without_its_process_says_what_to_do(monkeypatch, tmp_path: Path) -> None:
    conn = connection(monkeypatch, tmp_path)
    run, _ = fake_run(0, f"{2**22 + 1} true\n".encode())
    monkeypatch.setattr(nsenter.subprocess, "run", run)
    with pytest.raises(AnsibleConnectionFailure, match="is not running: its init process is gone") as raised:
        conn._inspect_pid()
    assert "`invoke stand.down`, then `nox -s converge`" in str(raised.value)
