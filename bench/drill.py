"""Restore drill benchmark on the local stand: `otus.pgrepl.drill` (what
`invoke stand.drill` runs) N times, with pgbench data of the given scale.

    python -m bench.drill [--runs N] [--scale S]

total_seconds is the playbook's wall time; rto_seconds, restore_seconds
(`barman restore`) and recovery_seconds (start of the restored cluster to
promoted at the target), and the phases, come from the drill's own report
(/var/lib/barman/drill/<server>.json). Writes bench/results/drill.json and
drill.md.
"""

from __future__ import annotations

import json
import sys

from bench import common
from tools import stand

TOTAL_TARGET = 45.0


def drill_once() -> dict:
    run = stand.run_playbook(stand.PLAYBOOKS / "drill.yml", stream=False)
    if run.rc != 0:
        raise SystemExit(f"the drill failed:\n{run.output[-3000:]}")
    report = json.loads(
        common.podman_exec(common.BARMAN, "cat", f"/var/lib/barman/drill/{common.SERVER}.json")
    )
    sample = {
        "total_seconds": round(run.seconds, 1),
        "rto_seconds": float(report["rto_seconds"]),
        "restore_seconds": round(float(report["restore_seconds"]), 2),
        "recovery_seconds": float(report["recovery_seconds"]),
    }
    # What the playbook spends before the role starts: facts and the running primary.
    sample["plays_before_seconds"] = round(run.seconds - float(report["total_seconds"]), 1)
    sample.update({k: float(v) for k, v in report["phases"].items()})
    return sample


def measure(runs: int, scale: int) -> dict:
    common.ensure_stand()
    result = common.sampled(scale, common.load_pgbench(scale), runs, drill_once)
    medians = result["median"]
    rto_target = round(2 * (medians["restore_seconds"] + medians["recovery_seconds"]) + 5, 1)
    return {
        **result,
        "total_seconds": medians["total_seconds"],
        "rto_seconds": medians["rto_seconds"],
        "restore_seconds": medians["restore_seconds"],
        "recovery_seconds": medians["recovery_seconds"],
        "targets": {"total_seconds": TOTAL_TARGET, "rto_seconds": rto_target},
    }


def table(result: dict) -> str:
    runs = result["runs"]
    lines = [
        *common.heading(
            "Restore drill benchmark",
            result,
            ", "
            f"{len(runs)} runs of `otus.pgrepl.drill` (as `invoke stand.drill`), medians (seconds). "
            f"pgbench scale {result['scale']} (database {result['database_size']}). RTO: the restore's start "
            "(scratch host prepared) to the restored cluster answering queries.",
        ),
        "| measure | median | runs | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [common.target_row(key, key, result) for key in runs[0]]
    lines += ["", "RTO target: 2 × (restore + recovery) + 5 s; total target: 45 s.", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    return common.runs_and_scale_main(argv, __doc__, measure, table, lambda _scale: "drill")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
