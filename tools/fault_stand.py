"""The stand the fault drill talks to: podman and psql on its hosts, their units, playbook runs.

Shared by the drill's faults (tools/fault_cases.py), its runner (tools/faults.py) and the Barman
benchmark (bench/backup.py, which times pg_receivewal's return after a kill).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tools import stand as st

LOGS = st.ROOT / "tmp" / "faults"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DrillError(Exception):
    """A step of a fault did not do what it must."""


def podman(
    *argv: str, check: bool = True, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["podman", *argv], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise DrillError(f"podman {' '.join(argv[:3])}: {(proc.stderr or proc.stdout).strip()}")
    return proc


# The stand's connection plugin knows a host's init process (pid, start time, a clean environment): the
# drill uses the same helpers rather than a copy of them.
_SPEC = importlib.util.spec_from_file_location(
    "otus_nsenter", st.ROOT / "stand" / "plugins" / "connection" / "podman_nsenter.py"
)
_NSENTER = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_NSENTER)
# Each host's init process, while it lives: a podman call costs the CPU of a dozen psql runs, and the
# watcher asks every host twice a second on a 2-core machine that also runs the playbooks.
_INIT_PIDS: dict[str, tuple[int, bytes]] = {}
_PSQL = ("runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres")


def host_pid(container: str) -> int | None:
    """PID of the host's init on this machine, or None when the host does not run."""
    known = _INIT_PIDS.get(container)
    if known and _NSENTER.process_alive(*known):
        return known[0]
    inspect = ("container", "inspect", "--format", "{{.State.Pid}} {{.State.Running}}", container)
    proc = podman(*inspect, check=False, timeout=30)
    pid = _NSENTER.parse_inspect(proc.stdout) if proc.returncode == 0 else None
    start = _NSENTER.process_start(pid) if pid else None
    if start is None:
        return None
    _INIT_PIDS[container] = (pid, start)
    return pid


def psql(container: str, sql: str, *, timeout: float = 10) -> str | None:
    """Run SQL as postgres on a host's local socket; None when the host or its cluster does not answer.

    Through nsenter into the host's namespaces, as the stand's connection runs tasks.
    """
    pid = host_pid(container)
    if pid is None:
        return None
    argv = ["nsenter", "--target", str(pid), "--all", "--root", "--wd", "--", "/usr/bin/env", "-i"]
    argv += [*_NSENTER.HOST_ENV, *_PSQL]
    try:
        proc = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def wait_for(what: str, check: Callable[[], object], timeout: float, every: float = 0.5) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise DrillError(f"{what}: not within {timeout:.0f} s")


class Stand:
    """Where the drill runs: hosts and groups from the inventory, containers and addresses from podman.

    The local stand by default; the failover scenario passes its own inventory.
    """

    def __init__(
        self, inventories: tuple[Path, ...] = (), extra: tuple[str, ...] = (), env: dict | None = None
    ):
        self.inventories = inventories or (st.INVENTORY,)
        self.extra = extra if inventories else ("-e", f"@{st.ensure_secrets()}")
        self.env = env if env is not None else (st.ansible_env() if not inventories else None)
        listing = st.inventory_listing(self.inventories, self.env)
        hostvars = listing["_meta"]["hostvars"]
        for name in self.extra[1::2]:
            if name.startswith("@"):
                extra_vars = yaml.safe_load(Path(name[1:]).read_text()) or {}
                for host in hostvars.values():
                    host.update(extra_vars)

        def group(name: str) -> list[str]:
            return list(listing.get(name, {}).get("hosts", []))

        self.db_hosts = group("postgresql_primary") + group("postgresql_standby")
        self.barman = group("barman")[0]
        self.barman_server = st.barman_server(group("postgresql_primary"))
        self.containers = {h: str(hostvars[h].get("ansible_host", h)) for h in [*self.db_hosts, self.barman]}
        self.layouts = {h: st.cluster_layout(hostvars[h]) for h in self.db_hosts}
        self.slots = st.slot_names(self.db_hosts, hostvars)
        self.drill_password = str(hostvars[self.barman].get("stand_drill_password", ""))
        if not self.drill_password:
            raise DrillError("set stand_drill_password (TEST-ONLY) for the drill's write loop")
        self.addresses: dict[str, str] = {}
        self.macs: dict[str, str] = {}
        for host, name in self.containers.items():
            inspect = json.loads(podman("container", "inspect", name).stdout)[0]
            networks = inspect["NetworkSettings"]["Networks"]
            self.network, settings = next(iter(networks.items()))
            self.addresses[host] = settings["IPAddress"]
            self.macs[host] = settings["MacAddress"]

    def container(self, host: str) -> str:
        return self.containers[host]

    def address(self, host: str) -> str:
        return self.addresses[host]

    def psql(self, host: str, sql: str, *, timeout: float = 10) -> str | None:
        return psql(self.container(host), sql, timeout=timeout)

    def states(self) -> dict[str, str]:
        """primary, standby or down for each database host, as its own cluster says."""
        out = {}
        for host in self.db_hosts:
            answer = self.psql(host, "SELECT pg_is_in_recovery()", timeout=5)
            out[host] = "down" if answer is None else ("standby" if answer == "t" else "primary")
        return out

    def primary(self) -> str:
        primaries = [h for h, s in self.states().items() if s == "primary"]
        if len(primaries) != 1:
            raise DrillError(f"expected one primary, found {primaries or 'none'}")
        return primaries[0]

    def playbook(
        self, name: str, label: str, *extra: str, inventories: tuple[Path, ...] = ()
    ) -> st.PlaybookRun:
        return st.run_playbook(
            st.PLAYBOOKS / name,
            *self.extra,
            *extra,
            stream=False,
            inventories=(*self.inventories, *inventories),
            env=self.env,
            log=LOGS / f"{label}-{Path(name).stem}.log",
        )

    def streaming(self, primary: str, names: list[str]) -> bool:
        """Every named walsender (application_name) streams from the primary."""
        answer = self.psql(
            primary,
            "SELECT string_agg(application_name, ' ') FROM pg_stat_replication WHERE state = 'streaming'",
        )
        return answer is not None and set(names) <= set(answer.split())


def expect_refusal(run: st.PlaybookRun, *phrases: str) -> str:
    """A run that must refuse: rc != 0, nothing changed, and the message names the way out."""
    plain = ANSI.sub("", run.output)
    flat = " ".join(plain.split())
    missing = [p for p in phrases if p not in flat]
    # No recap means the run stopped before any play: then "changed" says nothing.
    if run.rc == 0 or not run.recap or run.changed != 0 or missing:
        raise DrillError(
            f"{Path(run.playbook).name} should refuse and change nothing: rc={run.rc} changed={run.changed}"
            f" missing {missing}"
        )
    said = next((line for line in plain.splitlines() if "Nothing was changed." in line), phrases[0])
    # ansible-core prints the message twice (error line, result): the error line, without its prefix.
    return said.split("Action failed: ", 1)[-1].strip()[:400]


def expect_ok(run: st.PlaybookRun, what: str) -> None:
    if run.rc != 0:
        raise DrillError(f"{what} failed (rc={run.rc}); see {LOGS}")


def cluster_unit(stand: Stand, host: str, action: str) -> None:
    podman("exec", stand.container(host), "systemctl", action, stand.layouts[host]["service"])


def unit_state(stand: Stand, host: str) -> str:
    proc = podman(
        "exec", stand.container(host), "systemctl", "show", "-p", "ActiveState", "--value",
        stand.layouts[host]["service"], check=False,
    )  # fmt: skip
    return proc.stdout.strip() if proc.returncode == 0 else "unreachable"


def wait_systemd(container: str) -> None:
    wait_for(
        f"systemd in {container}",
        lambda: (
            podman("exec", container, "systemctl", "is-system-running", check=False).stdout.strip()
            in ("running", "degraded")
        ),
        120,
    )


_PIDS = (
    "import os, sys\n"
    "for p in filter(str.isdigit, os.listdir('/proc')):\n"
    "    try:\n"
    "        argv = open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')\n"
    "    except OSError:\n"
    "        continue\n"
    "    if os.path.basename(argv[0]).decode() == sys.argv[1]:\n"
    "        print(p)\n"
)


def pids(container: str, program: str) -> set[str]:
    """Process ids of a program in a host (the hosts have no procps)."""
    proc = podman("exec", container, "python3", "-c", _PIDS, program, check=False)
    return set(proc.stdout.split())


def kill_receive_wal(stand: Stand, primary: str, every: float = 0.5) -> float:
    """Kill -9 Barman's pg_receivewal; seconds until a new one streams from the primary."""
    barman = stand.container(stand.barman)
    killed = pids(barman, "pg_receivewal")
    if not killed:
        raise DrillError("no pg_receivewal runs on the Barman host")
    start = time.monotonic()
    podman("exec", barman, "sh", "-c", 'kill -9 "$@"', "kill", *killed)
    wait_for(
        "pg_receivewal streaming again",
        lambda: stand.streaming(primary, ["barman_receive_wal"]) and pids(barman, "pg_receivewal") - killed,
        180,
        every=every,
    )
    return time.monotonic() - start
