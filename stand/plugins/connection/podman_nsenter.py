# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""The local stand's connection: enter a podman host's namespaces with nsenter.

Not part of the collection: it exists for this repository's local hosts only
(the stand and the molecule scenarios). Users reach their own hosts over SSH.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: podman_nsenter
short_description: Run tasks in a local podman systemd host by entering its namespaces
description:
  - Runs each command with C(nsenter) in the namespaces of the container's init process, instead of
    C(podman exec) (about 15 ms a command here, against about 170 ms). Modules are piped to the
    host's Python (pipelining); files go through C(dd) and C(cat) inside the host.
  - The init process is looked up once with C(podman container inspect) and remembered in a small
    cache file, checked against the process's start time on every use.
  - A container that is stopped or missing is I(unreachable), as an SSH host that is down, not a
    task failure; playbooks then treat both alike.
  - Needs root on the machine that runs the containers (rootful podman).
  - A module's Python files are compiled once per host and Python version, not on every task. A small
    prelude sent with each module keeps the host's code objects in a folder of the running user
    (C(/var/tmp/otus-pgrepl-bytecode-UID-TAG), mode 0700, keyed by the SHA-256 of each source file).
    The modules run as sent; only their compilation is remembered (about 190 ms a module here, against
    about 110 ms).
options:
  remote_addr:
    description: Name or ID of the container.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_podman_host
  remote_user:
    description: User to run as inside the container (root when unset).
    vars:
      - name: ansible_user
    keyword:
      - name: remote_user
  bytecode_cache:
    description: Remember the modules' compiled code on the host (see above).
    type: boolean
    default: true
    vars:
      - name: ansible_podman_nsenter_bytecode_cache
    env:
      - name: OTUS_PGREPL_BYTECODE_CACHE
  podman_executable:
    description: The podman command.
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
"""

import os
import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection import ConnectionBase

# The environment a login on the host would start with; nothing of the
# controller's own environment leaks into the host.
HOST_ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
)
# Ansible's module wrapper says what it is in its first lines.
ANSIBALLZ_MARK = b"_ANSIBALLZ_WRAPPER = True"

# Runs on the host before the module wrapper. zipimport compiles every source
# file of the module's payload on each run, most of a module's time here; this
# keeps the code objects in a private folder, keyed by the source's hash, and
# gives each the path of this run's payload. On any surprise it leaves Python's
# own compilation in place.
BYTECODE_PRELUDE = r"""
def _otus_pgrepl_bytecode_cache():
    import hashlib, marshal, os, stat, sys, zipimport
    try:
        import _imp
        compile_source = zipimport._compile_source
        fix_filename = _imp._fix_co_filename
    except (ImportError, AttributeError):
        return
    uid = os.getuid()
    root = os.environ.get("OTUS_PGREPL_BYTECODE_ROOT", "/var/tmp")
    folder = os.path.join(root, "otus-pgrepl-bytecode-%d-%s" % (uid, sys.implementation.cache_tag))
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return
    st = os.lstat(folder)
    # Code loaded from here runs as this user: only a folder of this user's own, closed to others.
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
        return

    def compile_cached(pathname, source):
        path = os.path.join(folder, hashlib.sha256(source).hexdigest())
        try:
            with open(path, "rb") as handle:
                code = marshal.loads(handle.read())
            fix_filename(code, pathname)
            return code
        except Exception:
            pass
        code = compile_source(pathname, source)
        try:
            tmp = "%s.%d" % (path, os.getpid())
            with open(tmp, "wb") as handle:
                handle.write(marshal.dumps(code))
            os.replace(tmp, path)
        except OSError:
            pass
        return code

    zipimport._compile_source = compile_cached


_otus_pgrepl_bytecode_cache()
del _otus_pgrepl_bytecode_cache
"""


def with_bytecode_cache(in_data):
    """A pipelined module wrapper -> the same wrapper run after the prelude; anything else unchanged."""
    if not in_data or ANSIBALLZ_MARK not in in_data[:4096]:
        return in_data
    # The wrapper starts with a __future__ import, so it is compiled as a whole, after the prelude.
    return b"%s\nexec(compile(%s, '<stdin>', 'exec'))\n" % (
        BYTECODE_PRELUDE.encode(),
        repr(bytes(in_data)).encode("ascii"),
    )


CACHE_DIR = os.environ.get("OTUS_PGREPL_NSENTER_CACHE", "/run/otus-pgrepl/nsenter")


def _stat(pid):
    """The fields of /proc/PID/stat after the command name (state first), or None when the pid is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return stat[stat.rindex(b")") + 2 :].split()


def process_start(pid):
    """The start time of a process (clock ticks since boot), or None when it is gone.

    A pid with another start time is another process: the container was restarted.
    """
    fields = _stat(pid)
    return None if fields is None else fields[19]


def process_alive(pid, start):
    """Whether the process is the one that started at `start` and has not exited (a zombie has)."""
    fields = _stat(pid)
    return fields is not None and fields[19] == start and fields[0] not in (b"Z", b"X")


def parse_inspect(stdout):
    """'PID RUNNING' from podman inspect -> the pid of a running container, else None."""
    parts = to_text(stdout).split()
    if len(parts) != 2 or parts[1] != "true" or not parts[0].isdigit() or parts[0] == "0":
        return None
    return int(parts[0])


class Connection(ConnectionBase):
    transport = "podman_nsenter"
    has_pipelining = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pid = None
        self._start = None

    @property
    def _container(self):
        return self.get_option("remote_addr")

    def _cache_file(self):
        return os.path.join(CACHE_DIR, self._container.replace("/", "_"))

    def _cached_pid(self):
        try:
            with open(self._cache_file(), "rb") as handle:
                pid, start = handle.read().split()
            pid = int(pid)
        except (OSError, ValueError):
            return None
        return (pid, start) if process_alive(pid, start) else None

    def _inspect_pid(self):
        argv = [self.get_option("podman_executable"), "container", "inspect", "--format",
                "{{.State.Pid}} {{.State.Running}}", self._container]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, check=False)
        why = to_text(proc.stderr).strip()
        if proc.returncode != 0 and "no such container" not in why.lower():
            # podman itself failed (a storage lock, say): that says nothing about the host.
            raise AnsibleError("podman container inspect %s failed: %s" % (self._container, why))
        pid = parse_inspect(proc.stdout) if proc.returncode == 0 else None
        if pid is None:
            raise AnsibleConnectionFailure(
                "container %s is not running%s" % (self._container, ": " + why if why else "")
            )
        start = process_start(pid)
        if start is None:
            # podman still says running, but its processes were killed outside it (seen: a machine whose
            # processes were all killed): podman cannot stop or start it again, only remove it.
            raise AnsibleConnectionFailure(
                "container %s is not running: its init process is gone, though podman lists it as running."
                " Remove and make it again (the local stand: `invoke stand.down`, then `nox -s converge`)"
                % self._container
            )
        try:
            os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
            tmp = "%s.%d" % (self._cache_file(), os.getpid())
            with open(tmp, "wb") as handle:
                handle.write(b"%d %s\n" % (pid, start))
            os.replace(tmp, self._cache_file())
        except OSError:
            pass  # only a cache: the next task inspects again
        return pid, start

    def _connect(self):
        if os.geteuid() != 0:
            raise AnsibleError("the podman_nsenter connection enters rootful podman containers: run as root")
        if not self._connected:
            self._pid, self._start = self._cached_pid() or self._inspect_pid()
            self._connected = True
        return self

    def _argv(self, argv):
        """nsenter into every namespace of the host's init, with a clean environment."""
        user = self.get_option("remote_user")
        prefix = [
            "nsenter",
            "--target",
            str(self._pid),
            "--all",
            "--root",
            "--wd",
            "--",
            "/usr/bin/env",
            "-i",
        ]
        prefix += list(HOST_ENV)
        if user and user != "root":
            prefix += ["runuser", "-u", user, "--"]
        return prefix + list(argv)

    def _run(self, argv, in_data=None, stdin=None):
        proc = subprocess.run(
            self._argv(argv),
            input=in_data,
            stdin=stdin,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0 and (
            proc.stderr.startswith(b"nsenter: ") or not process_alive(self._pid, self._start)
        ):
            # The host went down before or during the command: unreachable, and found anew next time.
            self.close()
            raise AnsibleConnectionFailure(
                "container %s is not running (any more): %s" % (self._container, to_text(proc.stderr).strip())
            )
        return proc.returncode, proc.stdout, proc.stderr

    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._display.vvv("NSENTER %s: %s" % (self._container, cmd), host=self._container)
        if in_data is not None and self.get_option("bytecode_cache"):
            in_data = with_bytecode_cache(to_bytes(in_data, errors="surrogate_or_strict"))
        return self._run(shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data=in_data)

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        self._display.vvv("PUT %s TO %s" % (in_path, out_path), host=self._container)
        if not os.path.exists(to_bytes(in_path, errors="surrogate_or_strict")):
            raise AnsibleFileNotFound("file or module does not exist: %s" % in_path)
        with open(to_bytes(in_path, errors="surrogate_or_strict"), "rb") as source:
            rc, _, stderr = self._run(["dd", "of=" + out_path, "bs=1M", "status=none"], stdin=source)
        if rc != 0:
            raise AnsibleError(
                "failed to put %s to %s:%s: %s" % (in_path, self._container, out_path, to_text(stderr))
            )

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        self._display.vvv("FETCH %s TO %s" % (in_path, out_path), host=self._container)
        rc, stdout, stderr = self._run(["cat", "--", in_path])
        if rc != 0:
            raise AnsibleError("failed to fetch %s:%s: %s" % (self._container, in_path, to_text(stderr)))
        with open(to_bytes(out_path, errors="surrogate_or_strict"), "wb") as dest:
            dest.write(stdout)

    def reset(self):
        # wait_for_connection and the like: look the host up again (it may have restarted).
        self.close()

    def close(self):
        self._connected = False
        self._pid = None
        self._start = None
