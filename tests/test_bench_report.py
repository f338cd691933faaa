"""bench.report: the summary says which targets were met, from the benchmarks' own files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import common, report

BACKUP = {
    "measured_at": "2026-11-27 01:00 UTC",
    "scale": 20,
    "done_seconds": 3.1,
    "raw_basebackup_seconds": 0.5,
    "wal_archived_seconds": 0.8,
    "receive_wal_back_seconds": 6.2,
    "median": {
        "done_seconds": 3.1,
        "raw_basebackup_seconds": 0.5,
        "wal_archived_seconds": 0.8,
        "wal_archived_runner_seconds": 1.1,
        "receive_wal_back_seconds": 6.2,
    },
    "targets": {"done_seconds": 3.0, "wal_archived_seconds": 3.0, "receive_wal_back_seconds": 5.0},
}
RESTORE = {
    "measured_at": "2026-11-27 01:10 UTC",
    "scales": {
        "20": {"ratio": 1.4, "target_ratio": 1.5, "median": {"restore_seconds": 1.4, "copy_seconds": 1.0}},
        "100": {"ratio": 1.3, "target_ratio": 1.2, "median": {"restore_seconds": 6.5, "copy_seconds": 5.0}},
    },
}

INCREMENTAL = {
    "measured_at": "2026-11-27 09:00 UTC",
    "scale": 20,
    "targets": {"time_ratio": 0.25, "size_ratio": 0.10},
    "kinds": {"clustered": {"median": {"copy_ratio": 0.2, "done_ratio": 0.5, "size_ratio": 0.03}}},
}


def verdicts(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("measure", "---"):
            out[cells[0]] = cells[3]
    return out


def test_summary_marks_each_target() -> None:
    got = verdicts(report.summary({"backup": BACKUP, "restore": RESTORE}))
    assert got["backup to DONE"] == "**no**"  # 3.1 > 3.0
    assert got["WAL archived after a switch"] == "yes"
    assert got["receive-wal back after kill -9"] == "**no**"
    assert got["raw pg_basebackup (the floor)"] == ""
    assert got["restore / plain copy, scale 20"] == "yes"
    assert got["restore / plain copy, scale 100"] == "**no**"


def test_summary_judges_the_incremental_against_the_full() -> None:
    got = verdicts(report.summary({"incremental": INCREMENTAL}))
    assert got["incremental / full copy time, scale 20"] == "yes"
    assert got["incremental / full time to DONE, scale 20"] == "**no**"
    assert got["incremental / full size, scale 20"] == "yes"


def test_main_writes_summary_and_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    (tmp_path / "backup.json").write_text(json.dumps(BACKUP))
    (tmp_path / "restore.json").write_text(json.dumps(RESTORE))
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    assert report.main([]) == 0
    assert "backup to DONE" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_without_results_says_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    with pytest.raises(SystemExit, match="nox -s bench"):
        report.main([])


def test_sampled_takes_each_run_and_the_medians(capsys) -> None:
    values = iter([3.0, 1.0, 2.0])
    result = common.sampled(5, "80 MB", 3, lambda: {"seconds": next(values)})
    assert result["runs"] == [{"seconds": 3.0}, {"seconds": 1.0}, {"seconds": 2.0}]
    assert result["median"] == {"seconds": 2.0}
    assert (result["scale"], result["database_size"], result["cpus"]) == (5, "80 MB", os.cpu_count())
    assert "run 3/3" in capsys.readouterr().out
