"""Fault drill on the local stand (`invoke stand.faults`).

Each fault runs under a write loop on the Barman host that records every
acknowledged commit; the stand's own playbooks do the recovery, the way an
operator runs them. A watcher asks every database host once per half second
whether it runs as a primary, so a second primary cannot go unseen.

Faults:
  s  switchover to a standby under writes
  c  a standby stopped under writes, then started: it catches up through its slot
  d  Barman's pg_receivewal killed -9: streaming back, no gap in the archive
  a  the primary's host killed -> failover -> the host starts again (fenced)
     -> a converge (refuses) -> rejoin
  b  the same with synchronous replication on: 0 acknowledged commits lost
  e  the primary cut off the network -> failover -> reconnected: the tools
     report two primaries and change nothing until the operator stops one
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from tools import stand as st

FAULTS = "scdabe"
TITLES = {
    "s": "switchover under writes",
    "c": "standby stopped under writes",
    "d": "Barman's pg_receivewal killed -9",
    "a": "primary's host killed -> failover -> converge -> rejoin",
    "b": "as (a), synchronous replication on",
    "e": "primary cut off the network -> failover -> reconnect",
}
# Write-pause targets: switchover <= 2 s (issue 25), failover <= 15 s (issue 13). Reported, not failed.
PAUSE_TARGET = {"s": 2.0, "a": 15.0}
WRITER = Path(__file__).with_name("drill_writer.py")
LOGS = st.ROOT / "tmp" / "faults"
RESULTS = st.ROOT / "bench" / "results"
DRILL_USER = "otus_drill"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DrillError(Exception):
    """A step of a fault did not do what it must."""


@dataclass
class Outcome:
    fault: str
    title: str
    pause_s: float | None = None
    acked: int = 0
    lost: int | None = None
    two_primaries: bool = False
    # None where the fault has no pause target (or targets are off).
    pause_target_met: bool | None = None
    passed: bool = False
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def podman(
    *argv: str, check: bool = True, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["podman", *argv], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise DrillError(f"podman {' '.join(argv[:3])}: {(proc.stderr or proc.stdout).strip()}")
    return proc


def psql(container: str, sql: str, *, timeout: float = 10) -> str | None:
    """Run SQL as postgres on a host's local socket; None when the host or its cluster does not answer."""
    try:
        proc = podman(
            "exec", "-i", container, "runuser", "-u", "postgres", "--",
            "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres",
            check=False, timeout=timeout, stdin=sql,
        )  # fmt: skip
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
        # The Barman server is named after the inventory's first primary.
        self.barman_server = group("postgresql_primary")[0]
        self.containers = {h: str(hostvars[h].get("ansible_host", h)) for h in [*self.db_hosts, self.barman]}
        self.layouts = {h: st.cluster_layout(hostvars[h]) for h in self.db_hosts}
        self.slots = {h: st.slot_name(h, hostvars[h]) for h in self.db_hosts}
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


class Watch:
    """Sweeps the database hosts every half second; remembers the most primaries seen at once."""

    def __init__(self, stand: Stand) -> None:
        self.stand = stand
        self.max_primaries = 0
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            primaries = [h for h, s in self.stand.states().items() if s == "primary"]
            if len(primaries) > 1 and not self.seen:
                self.seen = primaries
            self.max_primaries = max(self.max_primaries, len(primaries))
            self._stop.wait(0.5)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class Writer:
    """The write loop on the Barman host; `acks` holds (controller clock, id, server address)."""

    def __init__(self, stand: Stand, table: str) -> None:
        self.stand = stand
        self.table = table
        self.acks: list[tuple[float, int, str]] = []
        self.errors: list[tuple[float, str]] = []
        env = dict(os.environ)
        env.update(
            PGHOST=",".join(stand.address(h) for h in stand.db_hosts),
            PGPORT="5432",
            PGUSER=DRILL_USER,
            PGDATABASE="postgres",
            PGPASSWORD=stand.drill_password,
            PGTARGETSESSIONATTRS="read-write",
            PGAPPNAME="otus_drill",
            # Like every connection between the stand's hosts: TLS, the server's name checked.
            PGSSLMODE="verify-full",
            PGSSLROOTCERT=st.TLS_CA_FILE,
        )
        names = (
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
            "PGTARGETSESSIONATTRS",
            "PGAPPNAME",
            "PGSSLMODE",
            "PGSSLROOTCERT",
        )
        # `-e NAME` without a value: podman takes it from this process, so the password is not in argv.
        env_args = [a for n in names for a in ("-e", n)]
        self.proc = subprocess.Popen(
            ["podman", "exec", "-i", *env_args, stand.container(stand.barman),
             "python3", "-c", WRITER.read_text(), table],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.monotonic()
            kind, _, rest = line.strip().partition(" ")
            if kind == "ack":
                ident, _, address = rest.partition(" ")
                self.acks.append((now, int(ident), address))
            else:
                self.errors.append((now, line.strip()))

    def count(self) -> int:
        return len(self.acks)

    def wait_acks(self, more: int, timeout: float = 60) -> None:
        target = self.count() + more
        wait_for(f"{more} more acknowledged commits", lambda: self.count() >= target or self._dead(), timeout)
        if self._dead():
            raise DrillError(f"the write loop ended: {self.errors[-3:]}")

    def _dead(self) -> bool:
        return self.proc.poll() is not None

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._thread.join(timeout=10)

    def first_ack_after(self, moment: float) -> float | None:
        later = [t for t, _, _ in self.acks if t > moment]
        return later[0] - moment if later else None

    def longest_gap(self, start: float, end: float) -> float:
        times = [start] + [t for t, _, _ in self.acks if start < t < end] + [end]
        return max(b - a for a, b in zip(times, times[1:], strict=False))


def create_table(stand: Stand, primary: str, table: str) -> None:
    password = stand.drill_password.replace("'", "''")
    sql = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DRILL_USER}') THEN
    CREATE ROLE {DRILL_USER} LOGIN;
  END IF;
END $$;
ALTER ROLE {DRILL_USER} PASSWORD '{password}';
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (id int PRIMARY KEY);
GRANT INSERT ON {table} TO {DRILL_USER};
"""
    if stand.psql(primary, sql) is None:
        raise DrillError(f"could not create {table} on {primary}")


def count_lost(stand: Stand, primary: str, table: str, acked: list[int]) -> int:
    ids = ",".join(str(i) for i in acked) or "0"
    sql = (
        f"SELECT count(*) FROM unnest('{{{ids}}}'::int[]) AS a(id) "
        f"WHERE {bool(acked)} AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = a.id)"
    )
    answer = stand.psql(primary, sql, timeout=60)
    if answer is None:
        raise DrillError(f"could not count the rows of {table} on {primary}")
    return int(answer)


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


@dataclass
class Context:
    stand: Stand
    outcome: Outcome
    writer: Writer
    table: str
    primary: str
    sync_vars: tuple[str, ...] = ()

    def note(self, text: str) -> None:
        self.outcome.notes.append(text)


def fault_s(ctx: Context) -> str:
    """Switchover to a standby: writes pause briefly, nothing is lost."""
    target = next(h for h in ctx.stand.db_hosts if h != ctx.primary)
    start = time.monotonic()
    expect_ok(ctx.stand.playbook("switchover.yml", "s", "-e", f"promote_to={target}"), "switchover")
    ctx.writer.wait_acks(50)
    ctx.outcome.pause_s = ctx.writer.longest_gap(start, time.monotonic())
    ctx.note(f"switchover {ctx.primary} -> {target} took {time.monotonic() - start:.1f} s")
    return target


def fault_c(ctx: Context) -> str:
    """Stop a standby under writes; it catches up through its slot when it starts again."""
    standby = next(h for h in ctx.stand.db_hosts if h != ctx.primary)
    start = time.monotonic()
    cluster_unit(ctx.stand, standby, "stop")
    ctx.writer.wait_acks(200)
    lsn = ctx.stand.psql(ctx.primary, "SELECT pg_current_wal_lsn()")
    slot_sql = f"SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{ctx.stand.slots[standby]}'"
    slot = ctx.stand.psql(ctx.primary, slot_sql)
    cluster_unit(ctx.stand, standby, "start")
    started = time.monotonic()
    wait_for(
        f"{standby} replays past {lsn}",
        lambda: (
            ctx.stand.psql(
                ctx.primary,
                f"SELECT replay_lsn >= '{lsn}' FROM pg_stat_replication WHERE application_name = '{standby}'",
            )
            == "t"
        ),
        120,
    )
    caught_up = time.monotonic() - started
    ctx.note(
        f"{standby} down {started - start:.1f} s (slot {slot or 'missing'}), caught up in {caught_up:.1f} s"
    )
    if slot not in ("reserved", "extended"):
        raise DrillError(f"{standby}'s slot kept no WAL while it was down (wal_status {slot})")
    ctx.writer.wait_acks(20)
    ctx.outcome.pause_s = ctx.writer.longest_gap(start, time.monotonic())
    return ctx.primary


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


def _archive_names(ctx: Context) -> list[str]:
    server = ctx.stand.barman_server
    # Barman 3.13 names the WAL index <server>-xlog.db; older releases xlog.db.
    wals = f"/var/lib/barman/{server}/wals"
    proc = podman(
        "exec",
        ctx.stand.container(ctx.stand.barman),
        "sh",
        "-c",
        f"cat {wals}/{server}-xlog.db || cat {wals}/xlog.db",
    )
    return sorted(
        {line.split()[0] for line in proc.stdout.splitlines() if re.match(r"^[0-9A-F]{24}\s", line)}
    )


def _segment(name: str) -> tuple[int, int]:
    """(timeline, segment number) of a WAL file name (16 MB segments: 256 per log)."""
    return int(name[:8], 16), int(name[8:16], 16) * 0x100 + int(name[16:24], 16)


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


def fault_d(ctx: Context) -> str:
    """Kill -9 Barman's pg_receivewal: it streams again and the archive has no hole."""
    barman = ctx.stand.container(ctx.stand.barman)
    before = ctx.stand.psql(ctx.primary, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    back = kill_receive_wal(ctx.stand, ctx.primary)
    ctx.note(f"pg_receivewal streaming again {back:.1f} s after the kill")
    ctx.outcome.pause_s = None
    ctx.writer.wait_acks(50)
    proc = podman(
        "exec", barman, "runuser", "-u", "barman", "--",
        "/usr/local/bin/otus-barman-backup", "--archive-only", ctx.stand.barman_server,
        check=False, timeout=180,
    )  # fmt: skip
    if proc.returncode != 0:
        raise DrillError(
            f"Barman did not archive the current WAL: {proc.stdout.strip()} {proc.stderr.strip()}"
        )
    if not before:
        raise DrillError(f"could not read {ctx.primary}'s current WAL file")
    # The timeline the kill happened on, from the segment current at the kill to the newest.
    segments = [
        _segment(n) for n in _archive_names(ctx) if n[:8] == before[:8] and _segment(n) >= _segment(before)
    ]
    holes = [b for a, b in zip(segments, segments[1:], strict=False) if b[1] != a[1] + 1]
    if not segments or segments[0] != _segment(before) or holes:
        raise DrillError(f"archive from {before}: {len(segments)} segments, holes before {holes}")
    ctx.note(f"archive from {before} on: {len(segments)} segments, no hole")
    return ctx.primary


def _kill_and_fail_over(ctx: Context, label: str) -> tuple[str, float]:
    old = ctx.primary
    podman("kill", ctx.stand.container(old))
    killed = time.monotonic()
    expect_ok(ctx.stand.playbook("failover.yml", label), "failover with the primary's host dead")
    ctx.note(f"failover playbook done {time.monotonic() - killed:.1f} s after the kill")
    return old, killed


def _return_refuse_rejoin(ctx: Context, old: str, label: str) -> None:
    """The dead host starts again: fenced; a converge refuses; rejoin brings it back as a standby."""
    podman("start", ctx.stand.container(old))
    wait_systemd(ctx.stand.container(old))
    state = wait_for(
        f"{old}'s cluster start refused",
        # One read per poll: the state itself when the start was refused, else nothing.
        lambda: next((u for u in [unit_state(ctx.stand, old)] if u in ("failed", "inactive")), ""),
        120,
    )
    fence = podman(
        "exec", ctx.stand.container(old), "cat", f"{ctx.stand.layouts[old]['conf_dir']}/FENCED", check=False
    ).stdout.strip()
    ctx.note(f"{old} back: cluster {state}, FENCED: {fence or 'missing'}")
    new = ctx.stand.primary()
    if f"{ctx.stand.address(new)} runs as the primary" not in fence:
        raise DrillError(f"{old}'s fence does not name the new primary {new}: {fence or 'no fence'}")
    site = ctx.stand.playbook("site.yml", label, *ctx.sync_vars)
    ctx.note("converge: " + expect_refusal(site, "otus.pgrepl.rejoin"))
    expect_ok(ctx.stand.playbook("rejoin.yml", label, *ctx.sync_vars), "rejoin")


def _new_primary(ctx: Context) -> str:
    new = ctx.stand.primary()
    others = [h for h in ctx.stand.db_hosts if h != new]
    wait_for("every standby streams", lambda: ctx.stand.streaming(new, others), 120)
    return new


def fault_a(ctx: Context) -> str:
    old, killed = _kill_and_fail_over(ctx, ctx.outcome.fault)
    if not ctx.sync_vars:
        ctx.writer.wait_acks(20)
    _return_refuse_rejoin(ctx, old, ctx.outcome.fault)
    new = _new_primary(ctx)
    ctx.writer.wait_acks(20)
    ctx.outcome.pause_s = ctx.writer.first_ack_after(killed)
    return new


def fault_b(ctx: Context) -> str:
    ctx.note("one standby: with ANY 1, the new primary acknowledges no commit until the old one rejoins")
    return fault_a(ctx)


def fault_e(ctx: Context) -> str:
    """Cut the primary off the network, fail over, reconnect: the tools refuse until the operator acts."""
    old = ctx.primary
    address = ctx.stand.address(old)
    # The operator cannot reach the cut-off host either: the stand's connection finds no such container.
    LOGS.mkdir(parents=True, exist_ok=True)
    unreachable = LOGS / "cut-off.yml"
    unreachable.write_text(
        yaml.safe_dump({"all": {"hosts": {old: {"ansible_host": ctx.stand.container(old) + "-cut-off"}}}})
    )
    podman("network", "disconnect", ctx.stand.network, ctx.stand.container(old))
    cut = time.monotonic()
    try:
        run = ctx.stand.playbook("failover.yml", "e", inventories=(unreachable,))
        expect_ok(run, "failover with the primary cut off")
        ctx.writer.wait_acks(20)
        ctx.outcome.pause_s = ctx.writer.first_ack_after(cut)
    finally:
        # Same addresses as before: the host comes back as the same machine, and its peers' neighbour
        # tables still hold the right MAC address for it.
        podman(
            "network", "connect", "--ip", address, "--mac-address", ctx.stand.macs[old],
            ctx.stand.network, ctx.stand.container(old),
        )  # fmt: skip
    new = next(h for h, s in ctx.stand.states().items() if s == "primary" and h != old)
    wait_for("two primaries answer", lambda: list(ctx.stand.states().values()).count("primary") == 2, 30)
    for name in ("verify.yml", "site.yml", "rejoin.yml"):
        said = expect_refusal(ctx.stand.playbook(name, "e-two"), "More than one primary runs", f"stop {old} ")
        ctx.note(f"{Path(name).stem}: {said}")
    # The operator does what the message says: stops the cut-off primary, then rejoins it.
    cluster_unit(ctx.stand, old, "stop")
    expect_ok(ctx.stand.playbook("rejoin.yml", "e"), "rejoin after the operator stopped the cut-off primary")
    _new_primary(ctx)
    ctx.writer.wait_acks(20)
    return new


STEPS: dict[str, Callable[[Context], str]] = {
    "s": fault_s, "c": fault_c, "d": fault_d, "a": fault_a, "b": fault_b, "e": fault_e,
}  # fmt: skip


def run_fault(stand: Stand, fault: str, targets: bool = True) -> Outcome:
    outcome = Outcome(fault, TITLES[fault])
    started = time.monotonic()
    sync_vars = ("-e", "postgresql_config_sync_mode=any") if fault == "b" else ()
    table = f"otus_drill_{fault}"
    try:
        if sync_vars:
            expect_ok(
                stand.playbook("site.yml", "b-sync-on", *sync_vars), "converge with synchronous replication"
            )
        primary = stand.primary()
        create_table(stand, primary, table)
        with Watch(stand) as watch:
            writer = Writer(stand, table)
            try:
                writer.wait_acks(100)
                ctx = Context(stand, outcome, writer, table, primary, sync_vars)
                final = STEPS[fault](ctx)
            finally:
                writer.stop()
        outcome.acked = len(writer.acks)
        outcome.lost = count_lost(stand, final, table, [i for _, i, _ in writer.acks])
        outcome.two_primaries = watch.max_primaries > 1
        if watch.seen:
            outcome.notes.append(f"two primaries seen: {', '.join(watch.seen)}")
        stand.psql(final, f"DROP TABLE {table}")
        if sync_vars:
            expect_ok(stand.playbook("site.yml", "b-sync-off"), "converge back to asynchronous replication")
        outcome.passed = judge(outcome, targets)
    except (DrillError, subprocess.TimeoutExpired) as exc:
        outcome.notes.append(f"FAILED: {exc}")
    outcome.seconds = round(time.monotonic() - started, 1)
    if outcome.pause_s is not None:
        outcome.pause_s = round(outcome.pause_s, 2)
    return outcome


def judge(outcome: Outcome, targets: bool = True) -> bool:
    """A row's verdict: nothing lost where it must not be, writes resumed, no unexpected second primary.

    A pause above its target is a measurement, not a fault of the tools: it is noted in the row
    (`pause_target_met`) and the drill goes on to the next fault.
    """
    ok = True
    # Asynchronous failovers may lose the last commits the dead primary had not sent: shown, not failed.
    if outcome.fault in "sbcd" and outcome.lost != 0:
        ok = False
    if outcome.pause_s is None and outcome.fault in PAUSE_TARGET:
        outcome.notes.append("writes never resumed")
        ok = False
    target = PAUSE_TARGET.get(outcome.fault)
    if targets and target is not None and outcome.pause_s is not None:
        outcome.pause_target_met = outcome.pause_s <= target
        if not outcome.pause_target_met:
            outcome.notes.append(
                f"write pause {outcome.pause_s:.2f} s, above the {target:g} s target (reported)"
            )
    # (e) leaves the cut-off primary running by construction: nothing can reach it to stop it.
    if outcome.two_primaries and outcome.fault != "e":
        ok = False
    if outcome.fault == "e" and not outcome.two_primaries:
        outcome.notes.append("the reconnected primary was never seen running beside the new one")
    return ok


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| fault | write pause (s) | acknowledged | lost | second primary seen | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for o in outcomes:
        pause = "-" if o.pause_s is None else f"{o.pause_s:.2f}"
        target = PAUSE_TARGET.get(o.fault)
        if o.pause_target_met is not None and target is not None:
            pause += f" (target ≤ {target:g}: {'met' if o.pause_target_met else 'MISSED'})"
        lost = "-" if o.lost is None else str(o.lost)
        second = (
            ("yes (expected: cut off, reported)" if o.fault == "e" else "YES") if o.two_primaries else "no"
        )
        result = "pass" if o.passed else "FAIL"
        lines.append(f"| {o.fault}: {o.title} | {pause} | {o.acked} | {lost} | {second} | {result} |")
    return "\n".join(lines)


def run(
    faults: str = FAULTS,
    write_results: bool = True,
    say: Callable[[str], None] = print,
    stand: Stand | None = None,
    targets: bool = True,
) -> list[Outcome]:
    """Run the faults in order, stop at the first that fails, then the health report; write the results."""
    unknown = set(faults) - set(FAULTS)
    if unknown or not faults:
        raise ValueError(f"faults are letters from {FAULTS!r} (got {faults!r})")
    stand = stand or Stand()
    outcomes: list[Outcome] = []
    for fault in faults:
        say(f"--- {fault}: {TITLES[fault]}")
        outcome = run_fault(stand, fault, targets)
        outcomes.append(outcome)
        for text in outcome.notes:
            say(f"    {text}")
        say(f"    {'pass' if outcome.passed else 'FAIL'} in {outcome.seconds:.0f} s")
        if not outcome.passed:
            break
    verify = stand.playbook("verify.yml", "final")
    healthy = verify.rc == 0
    say(table(outcomes))
    say(f"stand healthy afterwards (otus.pgrepl.verify): {'yes' if healthy else 'NO'}")
    if write_results:
        write(outcomes, healthy)
    return outcomes if healthy else [*outcomes, Outcome("verify", "stand healthy afterwards")]


def write(outcomes: list[Outcome], healthy: bool) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "command": "invoke stand.faults",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "stand_healthy_after": healthy,
        "faults": [asdict(o) for o in outcomes],
    }
    (RESULTS / "faults.json").write_text(json.dumps(data, indent=2) + "\n")
    notes = "\n".join(f"- {o.fault}: " + "; ".join(o.notes) for o in outcomes if o.notes)
    (RESULTS / "faults.md").write_text(
        f"# Fault drill (`invoke stand.faults`, {data['when']})\n\n{table(outcomes)}\n\n"
        f"Stand healthy afterwards (otus.pgrepl.verify): {'yes' if healthy else 'no'}.\n\n{notes}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.faults", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-i", "--inventory", action="append", type=Path, default=[], help="default: the stand's"
    )
    parser.add_argument("-e", "--extra-vars", action="append", default=[], help="passed to every playbook")
    parser.add_argument("--only", default=FAULTS, help=f"fault letters, in order (default {FAULTS})")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/results/faults.*")
    parser.add_argument("--no-targets", action="store_true", help="report write pauses, do not judge them")
    args = parser.parse_args(argv)
    try:
        stand = Stand(tuple(args.inventory), tuple(a for e in args.extra_vars for a in ("-e", e)))
        outcomes = run(args.only, write_results=not args.no_results, stand=stand, targets=not args.no_targets)
    except (ValueError, DrillError) as exc:
        parser.error(str(exc))
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
