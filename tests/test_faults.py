"""The fault drill's bookkeeping: verdicts, the write loop's pauses, refusals, WAL segment order.

The drill itself runs against real hosts (`invoke stand.faults`, the failover
scenario); these tests cover the arithmetic and the rules that decide pass/fail.
"""

from __future__ import annotations

import subprocess

import pytest

from tools import fault_cases, fault_stand, fault_watch, faults
from tools.stand import PlaybookRun


def outcome(fault: str, **kw) -> faults.Outcome:
    o = faults.Outcome(fault, faults.TITLES[fault])
    for key, value in kw.items():
        setattr(o, key, value)
    return o


@pytest.mark.parametrize(
    ("fault", "kw", "passed"),
    [
        ("s", {"pause_s": 1.9, "lost": 0}, True),
        ("s", {"pause_s": 3.5, "lost": 0}, True),  # above the 2 s switchover target: reported, not failed
        ("s", {"pause_s": 1.0, "lost": 1}, False),
        ("a", {"pause_s": 14.0, "lost": 3}, True),  # asynchronous: a loss is shown, not failed
        ("a", {"pause_s": 16.0, "lost": 0}, True),  # above the 15 s failover target: reported
        ("a", {"pause_s": None, "lost": 0}, False),  # writes never resumed
        ("b", {"pause_s": 70.0, "lost": 0}, True),
        ("b", {"pause_s": 5.0, "lost": 1}, False),  # synchronous: nothing acknowledged may be lost
        ("c", {"pause_s": 0.1, "lost": 0, "two_primaries": True}, False),
        ("d", {"lost": 0}, True),
        ("e", {"pause_s": 12.0, "lost": 0, "two_primaries": True}, True),  # the cut-off primary keeps running
        ("r", {"pause_s": 4.0, "lost": 0}, True),  # a primary restarted in place: no target
        ("r", {"pause_s": 4.0, "lost": 2}, False),  # a restart loses nothing acknowledged
        ("t", {"pause_s": 2.5, "lost": 0}, True),  # above the switchover target: reported
        ("t", {"pause_s": None, "lost": 0}, False),  # writes never resumed after the hand-over
    ],
)
def test_judge(fault: str, kw: dict, passed: bool) -> None:
    assert faults.judge(outcome(fault, **kw)) is passed


@pytest.mark.parametrize(("fault", "pause", "met"), [("s", 1.9, True), ("s", 2.1, False), ("a", 16.0, False)])
def test_a_missed_pause_target_is_reported_in_the_row(fault: str, pause: float, met: bool) -> None:
    o = outcome(fault, pause_s=pause, lost=0)
    assert faults.judge(o)
    assert o.pause_target_met is met
    assert any("above the" in n for n in o.notes) is not met
    o.passed = True
    row = faults.table([o]).splitlines()[2]
    assert ("MISSED" in row) is not met and ("met)" in row) is met


def test_judge_without_targets_ignores_pauses_only() -> None:
    assert faults.judge(outcome("a", pause_s=60.0, lost=0), targets=False)
    assert not faults.judge(outcome("b", pause_s=1.0, lost=2), targets=False)
    assert not faults.judge(outcome("a", pause_s=1.0, lost=0, two_primaries=True), targets=False)


def test_e_without_a_second_primary_says_so() -> None:
    o = outcome("e", pause_s=10.0, lost=0)
    faults.judge(o)
    assert any("never seen" in n for n in o.notes)


def test_table_marks_an_unexpected_second_primary() -> None:
    text = faults.table(
        [
            outcome("a", pause_s=12.345, acked=100, lost=0, passed=True),
            outcome("c", acked=10, lost=0, two_primaries=True),
            outcome("e", pause_s=None, lost=None, two_primaries=True, passed=True),
        ]
    )
    rows = text.splitlines()
    assert rows[0].startswith("| fault | write pause (s) |")
    assert "| 12.35 | 100 | 0 | no | pass |" in rows[2]
    assert "| YES | FAIL |" in rows[3]
    assert "| - | 0 | - | yes (expected: cut off, reported) | pass |" in rows[4]


def writer_with(acks: list[float]) -> fault_watch.Writer:
    writer = object.__new__(fault_watch.Writer)
    writer.acks = [(t, i, "10.0.0.1") for i, t in enumerate(acks, 1)]
    return writer


def test_pause_is_first_ack_after_the_fault() -> None:
    writer = writer_with([1.0, 2.0, 9.5, 9.6])
    assert writer.first_ack_after(2.5) == pytest.approx(7.0)
    assert writer.first_ack_after(10.0) is None


def test_longest_gap_counts_the_window_edges() -> None:
    writer = writer_with([1.0, 2.0, 3.0, 8.0])
    assert writer.longest_gap(0.5, 9.0) == pytest.approx(5.0)
    # no ack inside the window: the whole window is the pause
    assert writer.longest_gap(3.5, 7.5) == pytest.approx(4.0)


def run(rc: int, changed: int, output: str) -> PlaybookRun:
    recap = f"node1 : ok=3 changed={changed} unreachable=0 failed={int(rc != 0)} skipped=0\n"
    return PlaybookRun("site.yml", rc, 1.0, {"node1": {"changed": changed}}, output + recap)


REFUSAL = (
    "[ERROR]: Task failed: Action failed: More than one primary runs: node2 on timeline 4, node1 on"
    " timeline 3. node2 was promoted last (highest timeline): stop node1"
    " (systemctl stop postgresql@17-main there), then run otus.pgrepl.rejoin,"
    " which rewinds it into a standby. Nothing was changed.\n"
)


def test_refusal_returns_the_message() -> None:
    said = fault_stand.expect_refusal(run(2, 0, REFUSAL), "More than one primary runs", "stop node1 ")
    assert said.startswith("More than one primary runs: node2 on timeline 4, node1 on timeline 3.")
    assert said.endswith("Nothing was changed.")


@pytest.mark.parametrize(
    ("rc", "changed", "phrases"),
    [
        (0, 0, ("More than one primary runs",)),  # it did not refuse
        (2, 1, ("More than one primary runs",)),  # it changed something
        (2, 0, ("stop node2 ",)),  # it named the wrong host to stop
    ],
)
def test_refusal_rules(rc: int, changed: int, phrases: tuple[str, ...]) -> None:
    with pytest.raises(fault_stand.DrillError):
        fault_stand.expect_refusal(run(rc, changed, REFUSAL), *phrases)


def test_segments_order_across_a_log_boundary() -> None:
    assert fault_cases._segment("0000000300000001000000FF") == (3, 0x1FF)
    assert fault_cases._segment("000000030000000200000000") == (3, 0x200)


def test_unknown_faults_are_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="letters from"):
        faults.run("az", write_results=False, stand=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="letters from"):
        faults.run("", write_results=False, stand=object())  # type: ignore[arg-type]


def test_wait_for_gives_up_with_the_step_named(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(100))
    monkeypatch.setattr(fault_stand.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(fault_stand.time, "sleep", lambda s: None)
    with pytest.raises(fault_stand.DrillError, match="standby catches up: not within 5 s"):
        fault_stand.wait_for("standby catches up", lambda: False, 5)


def test_psql_answers_none_when_the_host_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(argv, **kw):
        return subprocess.CompletedProcess(argv, 125, "", "Error: no such container")

    monkeypatch.setattr(fault_stand.subprocess, "run", fake_run)
    assert fault_stand.psql("pgrepl-node1", "SELECT 1") is None


def test_refusal_without_a_recap_proves_nothing() -> None:
    with pytest.raises(fault_stand.DrillError):
        fault_stand.expect_refusal(PlaybookRun("site.yml", 2, 1.0, {}, REFUSAL), "More than one primary runs")


def test_refusal_read_through_colour_codes() -> None:
    coloured = "\x1b[0;31m" + REFUSAL.rstrip("\n") + "\x1b[0m\n"
    said = fault_stand.expect_refusal(run(2, 0, coloured), "stop node1 ")
    assert said.endswith("Nothing was changed.")


def test_psql_enters_the_host_it_remembers_until_its_init_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    starts = {4242: b"100"}

    def fake_run(argv, **kw):
        calls.append(argv)
        if argv[0] == "podman":
            return subprocess.CompletedProcess(argv, 0, "4242 true\n", "")
        return subprocess.CompletedProcess(argv, 0, "f\n", "")

    monkeypatch.setattr(fault_stand.subprocess, "run", fake_run)
    monkeypatch.setattr(fault_stand._NSENTER, "process_start", starts.get)
    monkeypatch.setattr(fault_stand._NSENTER, "process_alive", lambda pid, start: starts.get(pid) == start)
    monkeypatch.setattr(fault_stand, "_INIT_PIDS", {})
    assert fault_stand.psql("pgrepl-node1", "SELECT pg_is_in_recovery()") == "f"
    assert fault_stand.psql("pgrepl-node1", "SELECT pg_is_in_recovery()") == "f"
    assert [a[0] for a in calls] == ["podman", "nsenter", "nsenter"]
    assert calls[1][:3] == ["nsenter", "--target", "4242"]
    assert "psql" in calls[1]
    # The host restarted: the same PID with another start time is another process; inspect again.
    starts[4242] = b"200"
    fault_stand.psql("pgrepl-node1", "SELECT 1")
    assert [a[0] for a in calls[3:]] == ["podman", "nsenter"]
    # The host is gone: podman says PID 0, and nothing is entered.
    starts.clear()
    calls.clear()
    gone = subprocess.CompletedProcess([], 0, "0 false\n", "")
    monkeypatch.setattr(fault_stand.subprocess, "run", lambda argv, **kw: gone)
    assert fault_stand.psql("pgrepl-node1", "SELECT 1") is None


def test_restart_rows_write_their_own_results(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--only rt` writes restart.*, named with its command; the fault drill's results stay as they were."""
    monkeypatch.setattr(faults, "RESULTS", tmp_path)
    rows = [outcome("r", pause_s=3.2, lost=0, passed=True), outcome("t", pause_s=1.1, lost=0, passed=True)]
    faults.write(rows, True, "restart")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["restart.json", "restart.md"]
    text = (tmp_path / "restart.md").read_text()
    assert "`invoke stand.faults --only rt`" in text
    assert "| r: restart-needing setting, rolling restart (primary in place) | 3.20 |" in text
    assert "| t: restart-needing setting, switchover first | 1.10 | 0 | 0 | no | pass |" in text
