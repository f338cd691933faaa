#!/usr/bin/python3
# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""otus-barman-backup SERVER: take a Barman base backup and see it reach DONE.
otus-barman-backup --incremental SERVER: the same, block-level incremental on
top of the newest full backup when that one can be a parent (PostgreSQL 17
WAL summaries on when it was taken, no compression), else a full one.
otus-barman-backup --archive-only SERVER: close the current WAL segment and see
it reach Barman's archive (before a restore to a recent point in time).

Installed by the otus.pgrepl.barman role as /usr/local/bin/otus-barman-backup;
run as the barman user (as root it switches to barman itself).

Why not just `barman backup --wait`: the backup's last WAL segment has to be
closed and archived before the backup is DONE, and on an idle primary neither
happens by itself. Barman's streaming archiver also never archives the newest
complete segment while no newer `.partial` file exists (pg_receivewal needs one
file to find its position after a restart), and pg_receivewal opens the next
segment only when WAL arrives for it. So `--wait` sat until the primary's
next checkpoint or a one-minute `barman cron` tick. This runner instead:

0. when Barman's archive holds no WAL yet (a new server), steps 2-4 for the
   current segment: `barman check`, and so the backup, fail until one is there;
1. `barman backup SERVER` (the copy; it ends WAITING_FOR_WALS);
2. `barman switch-wal --force SERVER`: closes the segment the backup ended in;
3. `CHECKPOINT` through Barman's own conninfo: one WAL record in the next
   segment, so pg_receivewal opens it and the closed one may be archived;
4. `barman archive-wal SERVER` and `barman check-backup SERVER ID`, every
   half second, until the status is DONE (or FAILED, or the timeout).

`--archive-only` runs steps 2-4 for the segment that was current, and waits
until that segment is in the archive.

Why the newest full and not the newest backup as the parent: every incremental
then depends on one full only, so a chain is never longer than two backups, a
restore combines two, and retention (which Barman applies to full backups,
carrying their incrementals along) removes a week as a whole. An incremental
Barman refuses to start, or one that FAILED, is followed by a full backup.

Barman's locks still hold: a concurrent `barman cron` archiving the same
server makes our `archive-wal` step a no-op, never a second archiver.
Prints one JSON line (server, backup_id, backup_type, parent_backup_id,
status, seconds, backup_command_seconds); exit 0 only on DONE. After a
timeout it carries `barman check`'s FAILED lines (`barman_check`): WAL that
never arrives is most often receive-wal down or Barman's slot lost.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

DEFAULT_WAIT_TIMEOUT = 600
POLL_SECONDS = 0.5
# Close the segment again if it has not reached the archive by then (for
# example pg_receivewal was being restarted by barman cron meanwhile).
SWITCH_AGAIN_AFTER = 15.0
BACKUP_ID = re.compile(r"\b(\d{8}T\d{6})\b")
CLOSED_WAL = re.compile(r"WAL file ([0-9A-F]{24}) has been closed")
FINAL = ("DONE", "FAILED")

Run = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class Waits:
    """How long and how the runner waits, and how it looks at Barman's files (the tests replace them)."""

    timeout: float = DEFAULT_WAIT_TIMEOUT
    poll: float = POLL_SECONDS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    find: Callable[[str], list[str]] = glob.glob
    exists: Callable[[str], bool] = os.path.exists


def run_as_barman(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a command as the barman user (switching to it when started as root)."""
    full = list(argv)
    if os.geteuid() == 0:
        full = ["runuser", "-u", "barman", "--", *full]
    return subprocess.run(full, capture_output=True, text=True, check=False)


def backup_status(run: Run, server: str, backup_id: str) -> str | None:
    """The backup's status from `barman -f json show-backup` (key SERVER.status)."""
    shown = run(["barman", "-f", "json", "show-backup", server, backup_id])
    try:
        status = json.loads(shown.stdout)[server]["status"]
    except (ValueError, KeyError, TypeError):
        return None
    return status if isinstance(status, str) else None


def server_settings(run: Run, server: str) -> dict[str, str]:
    """Barman's settings for SERVER (`barman -f json show-servers`): conninfo, wals_directory, ...

    Read once per run; settings that are missing or empty are left out.
    """
    shown = run(["barman", "-f", "json", "show-servers", server])
    try:
        settings = json.loads(shown.stdout)[server]
    except (ValueError, KeyError, TypeError):
        return {}
    if not isinstance(settings, dict):
        return {}
    return {k: v for k, v in settings.items() if isinstance(v, str) and v}


def close_end_segment(run: Run, server: str, dsn: str | None) -> tuple[str | None, list[str]]:
    """Close the current segment and write one record into the next.

    Returns the name of the closed segment (when Barman says it) and the problems seen.
    """
    problems = []
    switched = run(["barman", "switch-wal", "--force", server])
    closed = CLOSED_WAL.search(switched.stdout + switched.stderr)
    if switched.returncode != 0:
        problems.append("switch-wal: " + (switched.stderr or switched.stdout).strip())
    if dsn is None:
        problems.append("no conninfo from show-servers: cannot open the next segment")
    else:
        # Barman's user holds pg_checkpoint (the role grants it on PG15+).
        checkpoint = run(["psql", "-X", "-q", "-w", "-d", dsn, "-c", "CHECKPOINT"])
        if checkpoint.returncode != 0:
            problems.append("CHECKPOINT: " + (checkpoint.stderr or checkpoint.stdout).strip())
    return (closed.group(1) if closed else None), problems


def check_failures(run: Run, server: str) -> list[str]:
    """`barman check SERVER`'s FAILED lines: why WAL stopped arriving (receive-wal down, its slot lost)."""
    checked = run(["barman", "check", server])
    return [line.strip() for line in (checked.stdout or "").splitlines() if "FAILED" in line]


def has_archived_wal(wals: str | None, find: Callable[[str], list[str]] = glob.glob) -> bool:
    """Whether Barman's archive (<wals_directory>/<16 characters>/<segment>) holds any segment."""
    return wals is None or bool(find(os.path.join(glob.escape(wals), "[0-9A-F]" * 16, "[0-9A-F]" * 24 + "*")))


def incremental_parent(run: Run, server: str, settings: dict[str, str]) -> tuple[str | None, str]:
    """The newest full backup when it can be an incremental's parent, else None; and why not."""
    if settings.get("backup_compression"):
        return None, "Barman takes no incremental backup with backup_compression set"
    shown = run(["barman", "-f", "json", "show-backup", server, "latest-full"])
    try:
        full = json.loads(shown.stdout)[server]
    except (ValueError, KeyError, TypeError):
        return None, "no full backup yet"
    if not isinstance(full, dict) or full.get("status") != "DONE":
        return None, "the newest full backup is not DONE"
    if (full.get("server_information") or {}).get("summarize_wal") != "on":
        return None, "the newest full backup was taken without WAL summaries (summarize_wal)"
    backup_id = full.get("backup_id")
    return (backup_id, "") if isinstance(backup_id, str) and backup_id else (None, "no full backup yet")


def take_backup(
    server: str, run: Run = run_as_barman, waits: Waits = Waits(), incremental: bool = False
) -> dict:
    """Back SERVER up and wait for DONE; the report printed as JSON.

    incremental: on top of the newest full backup when it can be a parent; a full one otherwise,
    or when Barman refuses the incremental or it fails.
    """
    clock = waits.clock
    started = clock()
    settings = server_settings(run, server)
    if not has_archived_wal(settings.get("wals_directory"), waits.find):
        first = archive_current_wal(server, run, waits, settings)
        if not first["archived"]:
            report = {"server": server, "backup_id": None, "status": None}
            report["error"] = "Barman's archive holds no WAL and the current segment did not arrive: " + str(
                first.get("error")
            )
            report["problems"] = first.get("problems", [])
            return _done(report, clock() - started)
    parent, why_full = incremental_parent(run, server, settings) if incremental else (None, "")
    report = _one_backup(server, run, waits, started, settings=settings, parent=parent)
    if parent and report["status"] != "DONE":
        # The chain cannot grow (WAL summaries missing after a timeline switch, say): a full starts a new one.
        why_full = "the incremental backup did not reach DONE: " + str(report.get("error"))
        report = _one_backup(server, run, waits, started, settings=settings, parent=None)
    if incremental and why_full:
        report["full_because"] = why_full
    return _done(report, clock() - started)


def _one_backup(
    server: str, run: Run, waits: Waits, started: float, *, settings: dict[str, str], parent: str | None
) -> dict:
    """One `barman backup` (incremental on PARENT when given) followed to DONE or FAILED."""
    clock = waits.clock
    argv = ["barman", "backup", *(["--incremental", parent] if parent else []), server]
    copy_started = clock()
    taken = run(argv)
    copied = clock()
    output = (taken.stdout or "") + (taken.stderr or "")
    match = BACKUP_ID.search(output)
    report: dict = {
        "server": server,
        "backup_id": match.group(1) if match else None,
        "backup_type": "incremental" if parent else "full",
        "parent_backup_id": parent,
        "status": None,
        # `barman backup` itself (pg_basebackup and Barman's bookkeeping); the rest is waiting for the WAL.
        "backup_command_seconds": round(copied - copy_started, 1),
    }
    if report["backup_id"] is None:
        report["error"] = "barman backup started no backup: " + output.strip()
        return report
    backup_id = report["backup_id"]
    problems: list[str] = []
    last_switch = None
    status = backup_status(run, server, backup_id)
    while status not in FINAL:
        if clock() - started > waits.timeout:
            report["error"] = f"still {status} after {waits.timeout:.0f} s"
            report["barman_check"] = check_failures(run, server)
            break
        if last_switch is None or clock() - last_switch > SWITCH_AGAIN_AFTER:
            problems = close_end_segment(run, server, settings.get("conninfo"))[1]
            last_switch = clock()
        run(["barman", "-q", "archive-wal", server])
        run(["barman", "-q", "check-backup", server, backup_id])
        status = backup_status(run, server, backup_id)
        if status not in FINAL:
            waits.sleep(waits.poll)
    report["status"] = status
    if report["status"] != "DONE":
        report.setdefault("error", f"backup {backup_id} is {report['status']}")
        if problems:
            report["problems"] = problems
        report["barman_output"] = output.strip()
    return report


def archive_current_wal(
    server: str, run: Run = run_as_barman, waits: Waits = Waits(), settings: dict[str, str] | None = None
) -> dict:
    """Close SERVER's current segment and wait until it is in Barman's archive."""
    clock = waits.clock
    started = clock()
    if settings is None:
        settings = server_settings(run, server)
    wals = settings.get("wals_directory")
    wal, problems = close_end_segment(run, server, settings.get("conninfo"))
    report: dict = {"server": server, "wal": wal, "archived": False}
    if wal is None or wals is None:
        report["error"] = "could not close the current WAL segment"
        report["problems"] = problems or ["no wals_directory from show-servers"]
        return _done(report, clock() - started)
    # Barman's layout: <wals_directory>/<first 16 characters>/<segment>.
    path = os.path.join(wals, wal[:16], wal)
    while True:
        run(["barman", "-q", "archive-wal", server])
        if waits.exists(path):
            report["archived"] = True
            break
        if clock() - started > waits.timeout:
            report["error"] = f"{wal} not archived after {waits.timeout:.0f} s"
            report["problems"] = problems
            report["barman_check"] = check_failures(run, server)
            break
        waits.sleep(waits.poll)
    return _done(report, clock() - started)


def _done(report: dict, seconds: float) -> dict:
    report["seconds"] = round(seconds, 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    mode = args[0] if args[:1] in (["--archive-only"], ["--incremental"]) else None
    if mode:
        args = args[1:]
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: otus-barman-backup [--archive-only | --incremental] SERVER\n")
        return 2
    try:
        timeout = float(os.environ.get("OTUS_BARMAN_WAIT_TIMEOUT", DEFAULT_WAIT_TIMEOUT))
    except ValueError:
        sys.stderr.write("OTUS_BARMAN_WAIT_TIMEOUT must be a number of seconds\n")
        return 2
    waits = Waits(timeout=timeout)
    if mode == "--archive-only":
        report = archive_current_wal(args[0], waits=waits)
        ok = report["archived"]
    else:
        report = take_backup(args[0], waits=waits, incremental=mode == "--incremental")
        ok = report["status"] == "DONE"
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
