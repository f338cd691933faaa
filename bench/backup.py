"""Barman benchmark on the local stand: a base backup to DONE beside a raw
pg_basebackup of the same cluster, WAL reaching the archive after a switch,
and pg_receivewal back after kill -9.

    python -m bench.backup [--runs N] [--scale S]

Loads pgbench at the given scale (default 20) on the primary, then N times:
  done_seconds            /usr/local/bin/otus-barman-backup node1 (what the
                          timer and `invoke stand.backup` run), its own clock;
  raw_basebackup_seconds  pg_basebackup -X none -c fast from the primary into
                          a directory on the Barman host, Barman's streaming
                          connection (the floor for any copy of this cluster);
  wal_archived_seconds    pg_switch_wal() and the next commit on the primary
                          -> the closed segment in Barman's archive, with
                          nobody calling Barman (receive-wal and the archive
                          path unit do it);
  wal_archived_runner_seconds  `otus-barman-backup --archive-only` (what the
                          restore and the drill call);
  receive_wal_back_seconds     pg_receivewal killed -9 -> a new one streams.
Writes bench/results/backup.json and backup.md.
"""

from __future__ import annotations

import json
import shlex
import sys

from bench import common
from tools import fault_stand

TARGETS = {
    # backup DONE <= 2 x raw pg_basebackup + 2 s: checked per run on the medians
    "wal_archived_seconds": 3.0,
    "receive_wal_back_seconds": 5.0,
}
RAW_DIR = "/var/lib/barman/bench-raw"
WAIT_ARCHIVED = 30


def backup_once() -> float:
    out = common.podman_exec(common.BARMAN, "/usr/local/bin/otus-barman-backup", common.SERVER, user="barman")
    report = json.loads(out.strip().splitlines()[-1])
    if report.get("status") != "DONE":
        raise SystemExit(f"backup did not reach DONE: {report}")
    return float(report["seconds"])


def raw_once(conninfo: str) -> float:
    script = f"rm -rf {RAW_DIR}; pg_basebackup -X none -c fast -D {RAW_DIR} -d {shlex.quote(conninfo)}"
    try:
        return common.timed(common.BARMAN, script, user="barman")
    finally:
        common.podman_exec(common.BARMAN, "rm", "-rf", RAW_DIR)


def archived_once(conninfo: str, wals: str) -> float:
    """Switch on the primary, commit once more, wait for the closed segment in the archive."""
    dsn = shlex.quote(conninfo)
    sql = f"psql -XAtq -w -d {dsn} -c"
    script = (
        f'{sql} "SELECT pg_current_xact_id()" >/dev/null; '
        "s=$(date +%s.%N); "
        f'seg=$({sql} "SELECT pg_walfile_name(pg_switch_wal())"); '
        f'{sql} "SELECT pg_current_xact_id()" >/dev/null; '
        f"f={shlex.quote(wals)}/${{seg:0:16}}/$seg; n=0; "
        f'until [ -e "$f" ]; do n=$((n+1)); [ $n -lt {WAIT_ARCHIVED * 20} ] || exit 3; sleep 0.05; done; '
        'e=$(date +%s.%N); echo "$s $e"'
    )
    start, end = common.podman_exec(common.BARMAN, "bash", "-ec", script, user="barman").split()[-2:]
    return float(end) - float(start)


def runner_archive_once() -> float:
    out = common.podman_exec(
        common.BARMAN, "/usr/local/bin/otus-barman-backup", "--archive-only", common.SERVER, user="barman"
    )
    report = json.loads(out.strip().splitlines()[-1])
    if not report.get("archived"):
        raise SystemExit(f"the current WAL did not reach the archive: {report}")
    return float(report["seconds"])


def receive_wal_back_once(stand: fault_stand.Stand) -> float:
    return fault_stand.kill_receive_wal(stand, stand.primary(), every=0.1)


def measure(runs: int, scale: int) -> dict:
    common.ensure_stand()
    db_size = common.load_pgbench(scale)
    settings = common.barman_settings()
    stand = fault_stand.Stand()

    def once() -> dict:
        return {
            "done_seconds": round(backup_once(), 2),
            "raw_basebackup_seconds": round(raw_once(settings["streaming_conninfo"]), 2),
            "wal_archived_seconds": round(archived_once(settings["conninfo"], settings["wals_directory"]), 2),
            "wal_archived_runner_seconds": round(runner_archive_once(), 2),
            "receive_wal_back_seconds": round(receive_wal_back_once(stand), 2),
        }

    result = common.sampled(scale, db_size, runs, once)
    medians = result["median"]
    done_target = round(2 * medians["raw_basebackup_seconds"] + 2, 2)
    return {
        **result,
        "done_seconds": medians["done_seconds"],
        "raw_basebackup_seconds": medians["raw_basebackup_seconds"],
        "ratio": round(medians["done_seconds"] / medians["raw_basebackup_seconds"], 2),
        "wal_archived_seconds": medians["wal_archived_seconds"],
        "receive_wal_back_seconds": medians["receive_wal_back_seconds"],
        "targets": {"done_seconds": done_target, **TARGETS},
    }


def table(result: dict) -> str:
    runs = result["runs"]
    rows = [
        ("backup to DONE (otus-barman-backup)", "done_seconds"),
        ("raw pg_basebackup -X none -c fast", "raw_basebackup_seconds"),
        ("switch + next commit -> segment archived", "wal_archived_seconds"),
        ("otus-barman-backup --archive-only", "wal_archived_runner_seconds"),
        ("pg_receivewal kill -9 -> streaming again", "receive_wal_back_seconds"),
    ]
    lines = [
        *common.heading(
            "Barman benchmark",
            result,
            ", "
            f"{len(runs)} runs, medians (seconds). pgbench scale {result['scale']} "
            f"(database {result['database_size']}); the raw copy goes from the primary to the Barman host "
            "over Barman's own streaming connection.",
        ),
        "| measure | median | runs | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [common.target_row(label, key, result) for label, key in rows]
    lines += [
        "",
        f"Backup DONE / raw pg_basebackup: **{result['ratio']}×** "
        f"(target: DONE ≤ 2 × raw + 2 s = {result['targets']['done_seconds']} s).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    return common.runs_and_scale_main(argv, __doc__, measure, table, lambda _scale: "backup")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
