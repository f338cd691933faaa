"""Restore benchmark: `barman restore` of a pgbench database (scale 20) beside a
plain copy of the same backup's files, on the Barman host of the local stand.

    python -m bench.restore [--runs N] [--scale S] [--jobs J]

Brings the stand up (idempotent), loads pgbench at the given scale on the
primary, takes a backup, then alternates restore and copy N times into
fresh directories. Each timing runs inside the Barman host and includes a
`sync`, so both have written their files. Writes bench/results/restore.json
and bench/results/restore.md; the target is restore <= 1.5 x the copy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tools import localhosts as lh
from tools import stand

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 1.5
WORK = "/var/lib/barman/bench"


def podman_exec(host: str, *argv: str, user: str = "") -> str:
    prefix = ["runuser", "-u", user, "--"] if user else []
    cmd = ["podman", "exec", stand.container(host), *prefix, *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (rc={proc.returncode}):\n{proc.stderr or proc.stdout}")
    return proc.stdout


def timed(host: str, script: str, user: str = "") -> float:
    """Seconds a shell script takes inside the host (no podman exec overhead)."""
    wrapped = f's=$(date +%s.%N); {script}; sync; e=$(date +%s.%N); echo "$s $e"'
    start, end = podman_exec(host, "sh", "-ec", wrapped, user=user).split()[-2:]
    return float(end) - float(start)


def load_pgbench(primary: str, scale: int) -> str:
    exists = podman_exec(
        primary, "psql", "-Atc", "SELECT 1 FROM pg_database WHERE datname = 'bench'", user="postgres"
    )
    if not exists.strip():
        podman_exec(primary, "createdb", "bench", user="postgres")
    podman_exec(
        primary, "/usr/lib/postgresql/17/bin/pgbench", "-i", "-q", "-s", str(scale), "bench", user="postgres"
    )
    return podman_exec(
        primary, "psql", "-Atc", "SELECT pg_size_pretty(pg_database_size('bench'))", "bench", user="postgres"
    ).strip()


def measure(runs: int, scale: int, jobs: int) -> dict:
    first = stand.up(stream=False)
    if first[-1].rc != 0:
        raise SystemExit(f"the stand did not come up:\n{first[-1].output[-3000:]}")
    primary, barman = "node1", "barman"
    db_size = load_pgbench(primary, scale)
    backup = json.loads(
        podman_exec(barman, "/usr/local/bin/otus-barman-backup", primary).strip().splitlines()[-1]
    )
    backup_id = backup["backup_id"]
    data = f"/var/lib/barman/{primary}/base/{backup_id}/data"
    size = podman_exec(barman, "du", "-sh", data).split()[0]
    listed = podman_exec(barman, "barman", "list-files", "--target", "wal", primary, backup_id, user="barman")
    wals = " ".join(listed.split())
    podman_exec(barman, "mkdir", "-p", WORK, user="barman")
    restore_argv = f"barman restore {'--jobs ' + str(jobs) + ' ' if jobs > 1 else ''}{primary} {backup_id}"
    # The baselines copy what the restore writes: the data directory and the WAL the backup needs.
    commands = {
        "restore_seconds": f"{restore_argv} {WORK}/restore >/dev/null",
        "copy_seconds": f"cp -a {data} {WORK}/copy && mkdir {WORK}/copy-wal && cp -a {wals} {WORK}/copy-wal/",
        "rsync_seconds": f"rsync -a {data}/ {WORK}/rsync/ && rsync -a {wals} {WORK}/rsync-wal/",
    }
    samples = []
    try:
        for i in range(runs):
            # Rotate the order, so none of them always finds the page cache warm.
            order = list(commands)[i % 3 :] + list(commands)[: i % 3]
            sample = {}
            for key in order:
                podman_exec(barman, "sh", "-c", f"rm -rf {WORK}/*")
                sample[key] = round(timed(barman, commands[key], user="barman"), 2)
            samples.append(sample)
    finally:
        podman_exec(barman, "rm", "-rf", WORK)
    restore_median = statistics.median(s["restore_seconds"] for s in samples)
    copy_median = statistics.median(s["copy_seconds"] for s in samples)
    rsync_median = statistics.median(s["rsync_seconds"] for s in samples)
    return {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "scale": scale,
        "jobs": jobs,
        "database_size": db_size,
        "backup_id": backup_id,
        "backup_data_size": size,
        "runs": samples,
        "median": {
            "restore_seconds": restore_median,
            "copy_seconds": copy_median,
            "rsync_seconds": rsync_median,
        },
        "ratio": round(restore_median / copy_median, 2),
        "ratio_to_rsync": round(restore_median / rsync_median, 2),
        "target_ratio": TARGET_RATIO,
    }


def table(result: dict) -> str:
    ratio = result["ratio"]
    runs = result["runs"]
    rows = [
        ("barman restore (s)", "restore_seconds"),
        ("plain copy, cp -a (s)", "copy_seconds"),
        ("rsync -a, Barman's copy engine (s)", "rsync_seconds"),
    ]
    return "\n".join(
        [
            "# Restore benchmark",
            "",
            f"Measured {result['measured_at']} on {result['machine']} ({result['cpus']} CPUs), "
            f"{len(runs)} runs, medians. pgbench scale {result['scale']} "
            f"(database {result['database_size']}, backup data {result['backup_data_size']}, "
            f"backup {result['backup_id']}). On the Barman host, each into an empty directory and "
            "followed by a `sync`: `barman restore` with no target (the backup plus the WAL it needs), "
            "`cp -a` of the same files (the backup's data directory and the WAL files "
            "`barman list-files --target wal` names), and `rsync -a` of the same files. The order "
            "rotates from run to run.",
            "",
            "| measure | median | runs |",
            "| --- | --- | --- |",
            *(
                f"| {label} | {result['median'][key]} | " + ", ".join(str(r[key]) for r in runs) + " |"
                for label, key in rows
            ),
            "",
            f"Ratio restore / plain copy: **{ratio}** "
            f"(target ≤ {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'not met'}); "
            f"restore / rsync: {result['ratio_to_rsync']}.",
            "",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1, help="barman restore --jobs")
    args = parser.parse_args(argv)
    lh.require_podman()
    result = measure(args.runs, args.scale, args.jobs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "restore.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "restore.md").write_text(table(result))
    print(table(result))
    # A measurement, not a test: the table says whether the target was met.
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
