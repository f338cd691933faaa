"""Restore benchmark: `barman restore` of a pgbench database beside a plain
copy of the same backup's files, on the Barman host of the local stand, at
pgbench scale 20 and at scale 100 (one run of the benchmark).

    python -m bench.restore [--runs N] [--scales 20,100] [--jobs J]

For each scale: loads pgbench on the primary, takes a backup, then alternates
restore, copy and rsync N times into fresh directories. Each timing runs
inside the Barman host and includes a `sync`, so all have written their
files. Writes bench/results/restore.json and restore.md; the targets are
restore <= 1.5 x the copy at scale 20 and <= 1.2 x at scale 100.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from bench import common

TARGET_RATIO = {20: 1.5, 100: 1.2}
WORK = "/var/lib/barman/bench"
podman_exec = common.podman_exec


def timed(host: str, script: str, user: str = "") -> float:
    return common.timed(host, f"{script}; sync", user=user)


def measure_scale(runs: int, scale: int, jobs: int) -> dict:
    barman = common.BARMAN
    db_size = common.load_pgbench(scale)
    backup = json.loads(
        podman_exec(barman, "/usr/local/bin/otus-barman-backup", common.SERVER).strip().splitlines()[-1]
    )
    backup_id = backup["backup_id"]
    data = f"/var/lib/barman/{common.SERVER}/base/{backup_id}/data"
    size = podman_exec(barman, "du", "-sh", data).split()[0]
    listed = podman_exec(
        barman, "barman", "list-files", "--target", "wal", common.SERVER, backup_id, user="barman"
    )
    wals = " ".join(listed.split())
    podman_exec(barman, "mkdir", "-p", WORK, user="barman")
    jobs_opt = f"--jobs {jobs} " if jobs > 1 else ""
    # The baselines copy what the restore writes: the data directory and the WAL the backup needs.
    commands = {
        "restore_seconds": f"barman restore {jobs_opt}{common.SERVER} {backup_id} {WORK}/restore >/dev/null",
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
            print(f"scale {scale} run {i + 1}/{runs}: {json.dumps(sample)}", flush=True)
            samples.append(sample)
    finally:
        podman_exec(barman, "rm", "-rf", WORK)
    medians = {k: round(statistics.median(s[k] for s in samples), 2) for k in commands}
    ratio = round(medians["restore_seconds"] / medians["copy_seconds"], 2)
    return {
        "scale": scale,
        "database_size": db_size,
        "backup_id": backup_id,
        "backup_data_size": size,
        "runs": samples,
        "median": medians,
        "ratio": ratio,
        "ratio_to_rsync": round(medians["restore_seconds"] / medians["rsync_seconds"], 2),
        "target_ratio": TARGET_RATIO.get(scale),
    }


def measure(runs: int, scales: list[int], jobs: int) -> dict:
    common.ensure_stand()
    by_scale = {str(scale): measure_scale(runs, scale, jobs) for scale in scales}
    # The stand's other benchmarks use scale 20: leave it so.
    if scales[-1] != 20:
        common.load_pgbench(20)
    result = {**common.header(), "jobs": jobs, "scales": by_scale}
    for scale, one in by_scale.items():
        result[f"ratio_scale_{scale}"] = one["ratio"]
    return result


def table(result: dict) -> str:
    rows = [
        ("barman restore (s)", "restore_seconds"),
        ("plain copy, cp -a (s)", "copy_seconds"),
        ("rsync -a, Barman's copy engine (s)", "rsync_seconds"),
    ]
    lines = [
        *common.heading(
            "Restore benchmark",
            result,
            ", medians. "
            "On the Barman host, each into an empty directory and followed by a `sync`: `barman restore` "
            f"(jobs {result['jobs']}) with no target (the backup plus the WAL it needs), `cp -a` of the same "
            "files (the backup's data directory and the WAL files `barman list-files --target wal` names), "
            "and `rsync -a` of the same files. The order rotates from run to run.",
        ),
    ]
    for scale, one in result["scales"].items():
        target = one["target_ratio"]
        verdict = "no target"
        if target:
            verdict = f"target ≤ {target}: {'met' if one['ratio'] <= target else 'not met'}"
        lines += [
            f"## pgbench scale {scale}",
            "",
            f"Database {one['database_size']}, backup data {one['backup_data_size']} "
            f"(backup {one['backup_id']}), {len(one['runs'])} runs.",
            "",
            "| measure | median | runs |",
            "| --- | --- | --- |",
            *(
                f"| {label} | {one['median'][key]} | " + ", ".join(str(r[key]) for r in one["runs"]) + " |"
                for label, key in rows
            ),
            "",
            f"Ratio restore / plain copy: **{one['ratio']}** ({verdict}); "
            f"restore / rsync: {one['ratio_to_rsync']}.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scales", default="20,100", help="pgbench scales, comma-separated")
    parser.add_argument("--jobs", type=int, default=1, help="barman restore --jobs")
    args = parser.parse_args(argv)
    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    result = measure(args.runs, scales, args.jobs)
    common.write("restore", result, table(result))
    # A measurement, not a test: the table says whether the targets were met.
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
