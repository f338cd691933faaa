"""All benchmark results side by side: bench/results/summary.md (every target,
met or not) and bench/results/bench.png (one panel per operation: its phases
against its floor and its target).

    python -m bench.report

Reads the JSON files the benchmarks wrote; a missing one is left out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.common import RESULTS

Bar = tuple[str, list[tuple[str, float]], "float | None"]


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def rows(results: dict[str, dict]) -> list[tuple[str, float, str, float | None]]:
    """(what, measured, unit, target) for every targeted measure that was run."""
    out: list[tuple[str, float, str, float | None]] = []
    if backup := results.get("backup"):
        out += [
            ("backup to DONE", backup["done_seconds"], "s", backup["targets"]["done_seconds"]),
            ("raw pg_basebackup (the floor)", backup["raw_basebackup_seconds"], "s", None),
            (
                "WAL archived after a switch",
                backup["wal_archived_seconds"],
                "s",
                backup["targets"]["wal_archived_seconds"],
            ),
            (
                "receive-wal back after kill -9",
                backup["receive_wal_back_seconds"],
                "s",
                backup["targets"]["receive_wal_back_seconds"],
            ),
        ]
    if drill := results.get("drill"):
        out += [
            ("drill RTO", drill["rto_seconds"], "s", drill["targets"]["rto_seconds"]),
            ("drill total", drill["total_seconds"], "s", drill["targets"]["total_seconds"]),
        ]
    if converge := results.get("converge"):
        median, targets = converge["median"], converge["targets"]
        out += [
            ("cold converge", median["cold_seconds"], "s", targets["cold_seconds"]),
            ("converge rerun", median["rerun_seconds"], "s", targets["rerun_seconds"]),
            ("rerun changed", median["rerun_changed"], "tasks", targets["rerun_changed"]),
        ]
        if "fresh_machine_seconds" in converge:
            out.append(
                (
                    "fresh machine to a verified stand",
                    converge["fresh_machine_seconds"],
                    "s",
                    targets.get("fresh_machine_seconds"),
                )
            )
    if connection := results.get("connection"):
        for way, ms in connection["ms_per_task"].items():
            used = " (used)" if way == connection["used"] else ""
            out.append((f"no-op task on {connection['hosts']} hosts, {way}{used}", ms, "ms", None))
    if ci := results.get("ci"):
        out.append(("`nox`, the whole suite", round(ci["total_seconds"] / 60, 1), "min", 20.0))
    if restore := results.get("restore"):
        for scale, one in restore.get("scales", {}).items():
            out.append((f"restore / plain copy, scale {scale}", one["ratio"], "×", one["target_ratio"]))
    if incremental := results.get("incremental"):
        m, targets = incremental["kinds"]["clustered"]["median"], incremental["targets"]
        scale = incremental["scale"]
        out += [
            (f"incremental / full copy time, scale {scale}", m["copy_ratio"], "×", targets["time_ratio"]),
            (f"incremental / full time to DONE, scale {scale}", m["done_ratio"], "×", targets["time_ratio"]),
            (f"incremental / full size, scale {scale}", m["size_ratio"], "×", targets["size_ratio"]),
        ]
    return out


def summary(results: dict[str, dict]) -> str:
    lines = [
        "# Benchmarks, side by side",
        "",
        "From `nox -s bench` (medians; the per-benchmark files hold every run and how it was measured).",
        "",
        "| measure | median | target | met |",
        "| --- | --- | --- | --- |",
    ]
    for what, value, unit, target in rows(results):
        shown = f"≤ {target} {unit}" if target is not None else ""
        met = ("yes" if value <= target else "**no**") if target is not None else ""
        lines.append(f"| {what} | {value} {unit} | {shown} | {met} |")
    dates = sorted({r["measured_at"] for r in results.values() if "measured_at" in r})
    lines += ["", f"Measured {', '.join(dates)}.", ""]
    return "\n".join(lines)


def panels(results: dict[str, dict]) -> list[tuple[str, list[Bar]]]:
    out: list[tuple[str, list[Bar]]] = []
    if backup := results.get("backup"):
        m, targets = backup["median"], backup["targets"]
        out.append(
            (
                f"Base backup, pgbench scale {backup['scale']} (s)",
                [
                    (
                        "otus-barman-backup\nto DONE",
                        [("backup", m["done_seconds"])],
                        backup["targets"]["done_seconds"],
                    ),
                    ("raw pg_basebackup", [("copy", m["raw_basebackup_seconds"])], None),
                ],
            )
        )
        out.append(
            (
                "WAL and receive-wal (s)",
                [
                    (
                        "switch -> archived",
                        [("path unit", m["wal_archived_seconds"])],
                        targets["wal_archived_seconds"],
                    ),
                    ("--archive-only", [("runner", m["wal_archived_runner_seconds"])], None),
                    (
                        "kill -9 -> streaming",
                        [("systemd restart", m["receive_wal_back_seconds"])],
                        targets["receive_wal_back_seconds"],
                    ),
                ],
            )
        )
    if drill := results.get("drill"):
        m = drill["median"]
        rto_rest = max(m["rto_seconds"] - m["restore_seconds"] - m["recovery_seconds"], 0.0)
        after_rto = max(m["restore_role_seconds"] - m["rto_seconds"], 0.0)
        phases = [
            ("facts", m["plays_before_seconds"]),
            ("backup", m["backup_seconds"]),
            ("markers+archive", m["markers_and_archive_seconds"]),
            ("prepare host", m["prepare_seconds"]),
            ("RTO", m["rto_seconds"]),
            ("marker, prune", after_rto),
            ("checks", m["checks_seconds"]),
        ]
        # The total's median is not the sum of the phases' medians.
        phases.append(("ansible, other", max(m["total_seconds"] - sum(v for _, v in phases), 0.0)))
        out.append(
            (
                f"Restore drill, pgbench scale {drill['scale']} (s)",
                [
                    (
                        "drill total",
                        phases,
                        drill["targets"]["total_seconds"],
                    ),
                    (
                        "RTO",
                        [
                            ("barman restore", m["restore_seconds"]),
                            ("recovery", m["recovery_seconds"]),
                            ("inspect, stop", rto_rest),
                        ],
                        drill["targets"]["rto_seconds"],
                    ),
                ],
            )
        )
    if converge := results.get("converge"):
        m = converge["median"]
        out.append(
            (
                "Converge of the stand (s)",
                [
                    (
                        "cold",
                        [
                            ("hosts", m["cold_seconds"] - m["cold_site_seconds"]),
                            ("site+verify", m["cold_site_seconds"]),
                        ],
                        converge["targets"]["cold_seconds"],
                    ),
                    ("rerun", [("site+verify", m["rerun_seconds"])], converge["targets"]["rerun_seconds"]),
                ],
            )
        )
    if restore := results.get("restore"):
        bars: list[Bar] = []
        for scale, one in restore.get("scales", {}).items():
            m = one["median"]
            bars += [
                (
                    f"barman restore, s{scale}",
                    [("restore", m["restore_seconds"])],
                    one["target_ratio"] and round(one["target_ratio"] * m["copy_seconds"], 2),
                ),
                (f"cp -a, s{scale}", [("copy", m["copy_seconds"])], None),
            ]
        out.append(("barman restore vs a plain copy (s)", bars))
    return out


def chart(results: dict[str, dict], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 -- only the chart needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    drawn = panels(results)
    if not drawn:
        return
    cols = 2
    rows_n = (len(drawn) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(13, 3.2 * rows_n), squeeze=False)
    colours = plt.get_cmap("tab20").colors
    for ax, (title, bars) in zip(axes.flat, drawn, strict=False):
        seen: dict[str, object] = {}
        # One colour per phase name within a panel, in order of first appearance.
        names = list(dict.fromkeys(n for _, segs, _ in bars for n, _ in segs))
        for y, (_label, segments, target) in enumerate(bars):
            left = 0.0
            for name, value in segments:
                colour = colours[(2 * names.index(name)) % 20 if len(names) <= 10 else names.index(name) % 20]
                handle = ax.barh(y, value, left=left, color=colour, edgecolor="white")
                if len(segments) > 1:
                    seen.setdefault(name, handle)
                if value >= 0.05 * max(sum(v for _, v in s) for _, s, _ in bars):
                    ax.text(
                        left + value / 2, y, f"{value:g}", ha="center", va="center", fontsize=8, color="white"
                    )
                left += value
            ax.text(left, y, f" {left:.1f}", va="center", fontsize=8)
            if target is not None:
                ax.plot([target, target], [y - 0.4, y + 0.4], color="black", linewidth=2)
                ax.text(target, y + 0.42, "target", ha="center", fontsize=7)
        ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.margins(x=0.15)
        if seen:
            ax.legend(seen.values(), seen.keys(), fontsize=7, loc="lower right", ncol=2)
    for ax in list(axes.flat)[len(drawn) :]:
        ax.axis("off")
    fig.suptitle("otus.pgrepl benchmarks (medians; black tick = target)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str]) -> int:
    del argv
    names = ("backup", "drill", "converge", "connection", "ci", "restore", "incremental")
    results = {n: r for n in names if (r := load(n)) is not None}
    if not results:
        raise SystemExit("no benchmark results in bench/results: run `nox -s bench` first")
    text = summary(results)
    (RESULTS / "summary.md").write_text(text)
    chart(results, RESULTS / "bench.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
