"""Converge benchmark: cold converge of the local stand (image cached, no
hosts) and a rerun on the standing stand; medians over several runs.

    python -m bench.converge [--runs N] [--down]

The last run's stand is left up (the other benchmarks use it) unless --down.

Writes bench/results/converge.json and bench/results/converge.md.
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

from bench import common
from tools import localhosts as lh
from tools import stand

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"cold_seconds": 90.0, "rerun_seconds": 20.0, "rerun_changed": 0, "fresh_machine_seconds": 240.0}
ROOT = Path(__file__).resolve().parents[1]


def measure_once() -> dict:
    stand.down()
    cold = stand.up(stream=False)
    if cold[-1].rc != 0:
        raise SystemExit(
            f"cold converge failed in {Path(cold[-1].playbook).name}:\n{cold[-1].output[-3000:]}"
        )
    rerun = stand.up(stream=False)
    if rerun[-1].rc != 0:
        raise SystemExit(f"rerun failed in {Path(rerun[-1].playbook).name}:\n{rerun[-1].output[-3000:]}")
    by_name = {Path(r.playbook).name: r for r in rerun}
    site = by_name["site.yml"]
    return {
        "cold_seconds": round(sum(r.seconds for r in cold), 1),
        "cold_site_seconds": round(next(r.seconds for r in cold if Path(r.playbook).name == "site.yml"), 1),
        "rerun_seconds": round(sum(r.seconds for r in rerun), 1),
        "rerun_site_seconds": round(site.seconds, 1),
        "rerun_changed": site.changed,
        # Task headers the site rerun printed, and the task runs on hosts (ok + changed, not skipped).
        "rerun_tasks": site.output.count("\nTASK ["),
        "rerun_host_tasks": sum(h["ok"] + h["changed"] for h in site.recap.values()),
        # hosts.yml is skipped when every host already runs
        "rerun_hosts_changed": by_name["hosts.yml"].changed if "hosts.yml" in by_name else 0,
    }


def measure_fresh() -> float:
    """Seconds of `./nox -s converge` on this machine made bare first.

    Removed first: the stand, the host image, the shared apt cache and the host
    packages (podman, runc, debootstrap ...): what `./nox -s converge` installs
    on a new machine. The project's .venv stays (this benchmark runs in it).
    """
    stand.down()
    lh.run(["podman", "rmi", "-f", lh.IMAGE])
    lh.run(["rm", "-rf", str(lh.CACHE_DIR)])
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "purge", "-y", "-qq", *lh.HOST_PACKAGES], check=False, env=env)
    subprocess.run(["apt-get", "autoremove", "-y", "-qq"], check=False, env=env)
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "nox"), "-s", "converge"], cwd=ROOT, check=False)
    seconds = round(time.monotonic() - started, 1)
    if proc.returncode != 0:
        raise SystemExit(f"./nox -s converge on the bare machine failed (rc={proc.returncode})")
    return seconds


def table(summary: dict, runs: list[dict]) -> str:
    lines = [
        *common.heading(
            "Converge benchmark",
            summary,
            ", "
            f"{len(runs)} runs, medians. Cold: no hosts, image cached, apt cache warm; "
            "hosts + site + verify. Rerun: the same command on the standing stand "
            "(the hosts playbook is skipped when every host runs).",
        ),
        "| measure | median | runs | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    keys = ("cold_seconds", "rerun_seconds", "rerun_changed")
    keys += ("cold_site_seconds", "rerun_site_seconds", "rerun_hosts_changed")
    keys += ("rerun_tasks", "rerun_host_tasks")
    lines += [common.target_row(key, key, summary) for key in keys if key in summary["median"]]
    if "fresh_machine_seconds" in summary:
        fresh, target = summary["fresh_machine_seconds"], summary["targets"]["fresh_machine_seconds"]
        lines.append(
            "| fresh_machine_seconds (`--fresh`: podman, image and apt cache purged, "
            f"then `./nox -s converge`) "
            f"| {fresh} | | ≤ {target} | {'yes' if fresh <= target else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--down", action="store_true", help="remove the stand at the end")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="purge podman and friends, the image and the apt cache first; time ./nox -s converge from there",
    )
    args = parser.parse_args(argv)
    fresh = measure_fresh() if args.fresh else None
    lh.require_podman()
    runs = []
    for i in range(args.runs):
        result = measure_once()
        print(f"run {i + 1}/{args.runs}: {json.dumps(result)}", flush=True)
        runs.append(result)
    if args.down:
        stand.down()
    summary = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "runs": runs,
        "median": {k: statistics.median(r[k] for r in runs) for k in runs[0]},
        "targets": TARGETS,
    }
    if fresh is not None:
        summary["fresh_machine_seconds"] = fresh
    elif (RESULTS / "converge.json").exists():
        # Kept from the last run that measured it (--fresh purges the machine's podman: not by default).
        kept = json.loads((RESULTS / "converge.json").read_text()).get("fresh_machine_seconds")
        if kept is not None:
            summary["fresh_machine_seconds"] = kept
    for key in ("cold_seconds", "rerun_seconds", "rerun_changed", "rerun_tasks"):
        summary[key] = summary["median"][key]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "converge.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "converge.md").write_text(table(summary, runs))
    print(table(summary, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
