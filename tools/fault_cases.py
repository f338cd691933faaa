"""The faults of the drill, one function per fault, and the letter each goes by on the command line.

Each takes the running fault's Context (the write loop already acknowledging commits), breaks the
stand, lets the stand's own playbooks recover it, and returns the host that is the primary at the end,
where the runner counts the acknowledged commits that were lost.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.fault_stand import (
    LOGS,
    DrillError,
    Stand,
    cluster_unit,
    expect_ok,
    expect_refusal,
    kill_receive_wal,
    podman,
    unit_state,
    wait_for,
    wait_systemd,
)
from tools.fault_watch import Writer


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


def switchover_under_writes(ctx: Context) -> str:
    """Switchover to a standby: writes pause briefly, nothing is lost."""
    target = next(h for h in ctx.stand.db_hosts if h != ctx.primary)
    start = time.monotonic()
    expect_ok(ctx.stand.playbook("switchover.yml", "s", "-e", f"promote_to={target}"), "switchover")
    ctx.writer.wait_acks(50)
    ctx.outcome.pause_s = ctx.writer.longest_gap(start, time.monotonic())
    ctx.note(f"switchover {ctx.primary} -> {target} took {time.monotonic() - start:.1f} s")
    return target


def standby_stopped_catches_up(ctx: Context) -> str:
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


def receive_wal_killed(ctx: Context) -> str:
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
        "exec", ctx.stand.container(old), "cat", ctx.stand.layouts[old]["fence_file"], check=False
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


def primary_host_killed(ctx: Context) -> str:
    """Kill the primary's host, fail over; the host returns fenced, a converge refuses, rejoin restores it."""
    old, killed = _kill_and_fail_over(ctx, ctx.outcome.fault)
    if not ctx.sync_vars:
        ctx.writer.wait_acks(20)
    _return_refuse_rejoin(ctx, old, ctx.outcome.fault)
    new = _new_primary(ctx)
    ctx.writer.wait_acks(20)
    ctx.outcome.pause_s = ctx.writer.first_ack_after(killed)
    return new


def primary_host_killed_sync(ctx: Context) -> str:
    """As primary_host_killed; the runner has turned synchronous replication on, so nothing may be lost."""
    ctx.note("one standby: with ANY 1, the new primary acknowledges no commit until the old one rejoins")
    return primary_host_killed(ctx)


def primary_cut_off(ctx: Context) -> str:
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
    # Side by side: each must refuse in its first plays, before any change.
    names = ("verify.yml", "site.yml", "rejoin.yml")
    with ThreadPoolExecutor(len(names)) as pool:
        runs = list(pool.map(lambda name: ctx.stand.playbook(name, "e-two"), names))
    for name, run in zip(names, runs, strict=True):
        said = expect_refusal(run, "More than one primary runs", f"stop {old} ")
        ctx.note(f"{Path(name).stem}: {said}")
    # The operator does what the message says: stops the cut-off primary, then rejoins it.
    cluster_unit(ctx.stand, old, "stop")
    expect_ok(ctx.stand.playbook("rejoin.yml", "e"), "rejoin after the operator stopped the cut-off primary")
    _new_primary(ctx)
    ctx.writer.wait_acks(20)
    return new


# A setting that takes a restart and constrains no standby (max_connections and its kin must not be
# lower on a standby than on its primary), and the value the restart rows set before they set it back.
RESTART_SETTING = ("postgresql_config_shared_buffers", "shared_buffers", "144MB")


def _restart_change(ctx: Context, switchover: bool) -> str:
    """Change a setting that needs a restart with a site run under writes, then set it back the same way."""
    var, name, value = RESTART_SETTING
    hosts = ctx.stand.db_hosts
    original = ctx.stand.psql(ctx.primary, f"SHOW {name}")
    if original == value:
        raise DrillError(f"{name} is {value} already: the row would restart nothing")
    handover = ("-e", "postgresql_config_restart_switchover=true") if switchover else ()
    start = time.monotonic()
    for step, extra, expected in (("change", ("-e", f"{var}={value}"), value), ("back", (), original)):
        before = ctx.stand.primary()
        began = time.monotonic()
        expect_ok(
            ctx.stand.playbook("site.yml", f"{ctx.outcome.fault}-{step}", *extra, *handover),
            f"site run setting {name} to {expected}",
        )
        ctx.writer.wait_acks(20)
        shown = {h: ctx.stand.psql(h, f"SHOW {name}") for h in hosts}
        pending = "SELECT count(*) FROM pg_settings WHERE pending_restart"
        waiting = {h: ctx.stand.psql(h, pending) for h in hosts}
        after = ctx.stand.primary()
        if set(shown.values()) != {expected} or set(waiting.values()) != {"0"}:
            raise DrillError(f"after the site run: {name} {shown}, settings waiting for a restart {waiting}")
        if (after != before) != switchover:
            raise DrillError(f"primary {before} before the site run, {after} after it ({switchover=})")
        _new_primary(ctx)
        ctx.note(
            f"{name} {expected}: site run {time.monotonic() - began:.1f} s, primary {before}"
            + (f" -> {after}" if after != before else " restarted in place")
            + f", longest write gap {ctx.writer.longest_gap(began, time.monotonic()):.2f} s"
        )
    ctx.outcome.pause_s = ctx.writer.longest_gap(start, time.monotonic())
    return ctx.stand.primary()


def restart_rolling(ctx: Context) -> str:
    """A restart-needing setting: the standbys restart one at a time, then the primary in place."""
    return _restart_change(ctx, switchover=False)


def restart_with_switchover(ctx: Context) -> str:
    """The same with postgresql_config_restart_switchover: the primary hands over instead of restarting."""
    return _restart_change(ctx, switchover=True)


# Keyed by the letters --only, the tables and the results files use: functions may be renamed, letters not.
BY_LETTER: dict[str, Callable[[Context], str]] = {
    "s": switchover_under_writes,
    "c": standby_stopped_catches_up,
    "d": receive_wal_killed,
    "a": primary_host_killed,
    "r": restart_rolling,
    "t": restart_with_switchover,
    "b": primary_host_killed_sync,
    "e": primary_cut_off,
}
