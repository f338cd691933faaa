"""What the benchmarks share: commands inside the stand's hosts, the pgbench
data set, medians and the results folder."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tools import stand

RESULTS = Path(__file__).resolve().parent / "results"
# From the stand's inventory: the first primary, the Barman host, and Barman's server.
PRIMARY = stand.groups()["postgresql_primary"][0]
BARMAN = stand.groups()["barman"][0]
SERVER = stand.barman_server(stand.groups()["postgresql_primary"])


def podman_exec(host: str, *argv: str, user: str = "", timeout: float = 900) -> str:
    prefix = ["runuser", "-u", user, "--"] if user else []
    cmd = ["podman", "exec", stand.container(host), *prefix, *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (rc={proc.returncode}):\n{proc.stderr or proc.stdout}")
    return proc.stdout


def timed(host: str, script: str, user: str = "") -> float:
    """Seconds a bash script takes inside the host (no podman exec overhead)."""
    wrapped = f's=$(date +%s.%N); {script}; e=$(date +%s.%N); echo "$s $e"'
    start, end = podman_exec(host, "bash", "-ec", wrapped, user=user).split()[-2:]
    return float(end) - float(start)


def ensure_stand() -> None:
    """The stand up and verified (a rerun when it stands already)."""
    runs = stand.up(stream=False)
    if runs[-1].rc != 0:
        raise SystemExit(f"the stand did not come up:\n{runs[-1].output[-3000:]}")


def load_pgbench(scale: int, primary: str = PRIMARY) -> str:
    """pgbench tables of the given scale in database `bench` on the primary; its size."""
    exists = podman_exec(
        primary, "psql", "-Atc", "SELECT 1 FROM pg_database WHERE datname = 'bench'", user="postgres"
    )
    if not exists.strip():
        podman_exec(primary, "createdb", "bench", user="postgres")
    hostvars = stand.inventory_listing()["_meta"]["hostvars"][primary]
    pgbench = f"{stand.cluster_layout(hostvars)['bin_dir']}/pgbench"
    podman_exec(primary, pgbench, "-i", "-q", "-s", str(scale), "bench", user="postgres")
    return podman_exec(
        primary, "psql", "-Atc", "SELECT pg_size_pretty(pg_database_size('bench'))", "bench", user="postgres"
    ).strip()


def barman_settings(server: str = SERVER) -> dict:
    shown = podman_exec(BARMAN, "barman", "-f", "json", "show-servers", server, user="barman")
    return json.loads(shown)[server]


def median(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def header() -> dict:
    return {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.node(),
        "cpus": os.cpu_count(),
    }


def measured(result: dict) -> str:
    """When and where a benchmark ran, as each results file opens."""
    return f"Measured {result['measured_at']} on {result['machine']} ({result['cpus']} CPUs)"


def heading(title: str, result: dict, text: str) -> list[str]:
    """A results file's title and its first paragraph: when and where it was measured, then `text`."""
    return [f"# {title}", "", measured(result) + text, ""]


def sampled(scale: int, db_size: str, runs: int, once: Callable[[], dict]) -> dict:
    """`runs` samples of `once` (printed as they come) and their medians, under the shared header."""
    samples = []
    for i in range(runs):
        sample = once()
        print(f"run {i + 1}/{runs}: {json.dumps(sample)}", flush=True)
        samples.append(sample)
    medians = {k: median(samples, k) for k in samples[0]}
    return {**header(), "scale": scale, "database_size": db_size, "runs": samples, "median": medians}


def target_row(label: str, key: str, result: dict) -> str:
    """| label | median | every run | target | met | for a key of result["runs"]."""
    median = result["median"][key]
    target = result.get("targets", {}).get(key)
    values = ", ".join(str(r[key]) for r in result["runs"])
    if target is None:
        return f"| {label} | {median} | {values} |  |  |"
    return f"| {label} | {median} | {values} | ≤ {target} | {'yes' if median <= target else 'no'} |"


def write(name: str, result: dict, markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown, flush=True)


def runs_and_scale_main(
    argv: list[str],
    doc: str | None,
    measure: Callable[[int, int], dict],
    table: Callable[[dict], str],
    name: Callable[[int], str],
) -> int:
    """`--runs N --scale S`: measure, then write results/NAME.json and .md (NAME from the scale)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=int, default=20)
    args = parser.parse_args(argv)
    result = measure(args.runs, args.scale)
    write(name(args.scale), result, table(result))
    # A measurement, not a test: the table says whether the targets were met.
    return 0
