"""The backup runner's logic, with a fake Barman: what it runs and when it stops."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import load_role_file

obb = load_role_file("barman", "otus_barman_backup")

BACKUP_ID = "20261126T140206"
WAL = "000000010000000000000012"
WALS = "/var/lib/barman/node1/wals"
DSN = "host=10.0.0.1 port=5432 user=barman dbname=postgres passfile=/var/lib/barman/.pgpass"


class FakeBarman:
    """Answers barman/psql argv; the backup turns DONE after `done_after` check-backup calls."""

    def __init__(self, done_after=1, backup_out=None, final="DONE", conninfo=DSN, fail=(), check_out=""):
        self.calls: list[list[str]] = []
        self.checks = 0
        self.done_after = done_after
        self.final = final
        self.backup_out = backup_out if backup_out is not None else f"Starting backup ... base/{BACKUP_ID}\n"
        self.conninfo = conninfo
        self.fail = set(fail)
        self.check_out = check_out

    def status(self):
        return self.final if self.checks >= self.done_after else "WAITING_FOR_WALS"

    def __call__(self, argv):
        argv = list(argv)
        self.calls.append(argv)
        rc, out = 0, ""
        verb = next((a for a in argv[1:] if not a.startswith("-") and a != "json"), "")
        if argv[0] == "psql":
            verb = "psql"
        elif verb == "backup":
            out = self.backup_out
        elif verb == "show-backup":
            out = json.dumps({"node1": {"backup_id": argv[-1], "status": self.status()}})
        elif verb == "show-servers":
            out = json.dumps(
                {"node1": {"conninfo": self.conninfo, "wals_directory": WALS}} if self.conninfo else {}
            )
        elif verb == "check":
            out = self.check_out
        elif verb == "check-backup":
            self.checks += 1
        elif verb == "switch-wal":
            out = f"The WAL file {WAL} has been closed on server 'node1'\n"
        if verb in self.fail:
            rc, out = 1, f"{verb} failed"
        return subprocess.CompletedProcess(argv, rc, out, "")

    def verbs(self, name):
        return [c for c in self.calls if name in c or c[0] == name]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def _take(fake, timeout=600, archived=True):
    clock = Clock()
    waits = obb.Waits(
        timeout=timeout,
        clock=clock,
        sleep=clock.sleep,
        find=lambda pattern: [f"{WALS}/0000000100000000/{WAL}"] if archived else [],
        exists=lambda path: True,
    )
    report = obb.take_backup("node1", run=fake, waits=waits)
    return report, clock


def test_done_after_one_switch_checkpoint_and_archive():
    fake = FakeBarman(done_after=1)
    report, _ = _take(fake)
    assert report["status"] == "DONE"
    assert report["backup_id"] == BACKUP_ID
    assert fake.verbs("backup") == [
        ["barman", "backup", "node1"]
    ]  # no --wait: the runner closes the WAL itself
    assert len(fake.verbs("switch-wal")) == 1
    assert fake.verbs("psql") == [["psql", "-X", "-q", "-w", "-d", DSN, "-c", "CHECKPOINT"]]
    assert len(fake.verbs("archive-wal")) == 1
    assert ["barman", "-q", "check-backup", "node1", BACKUP_ID] in fake.calls
    # switch-wal closes first, then CHECKPOINT opens the next segment, then archive-wal.
    order = [
        next(v for v in ("switch-wal", "psql", "archive-wal") if v in c or c[0] == v)
        for c in fake.calls
        if {"switch-wal", "archive-wal"} & set(c) or c[0] == "psql"
    ]
    assert order == ["switch-wal", "psql", "archive-wal"]


def test_waits_without_switching_every_poll():
    fake = FakeBarman(done_after=6)
    report, clock = _take(fake)
    assert report["status"] == "DONE"
    assert len(fake.verbs("archive-wal")) == 6
    # Polls every half second; the segment is closed again only after SWITCH_AGAIN_AFTER.
    assert len(fake.verbs("switch-wal")) == 1
    assert clock.now == pytest.approx(5 * obb.POLL_SECONDS)


def test_switches_again_when_the_segment_never_arrives():
    fake = FakeBarman(done_after=10**6)
    report, _ = _take(fake, timeout=40)
    assert report["status"] == "WAITING_FOR_WALS"
    assert "still WAITING_FOR_WALS after 40 s" in report["error"]
    switches = len(fake.verbs("switch-wal"))
    assert 2 <= switches <= 40 / obb.SWITCH_AGAIN_AFTER + 1


# Seen in CI: Barman's slot was invalidated (max_slot_wal_keep_size), receive-wal failed on every restart
# and the backup waited its whole timeout; the report now says what barman check says.
LOST_SLOT_CHECK = """Server node1:
\tPostgreSQL: OK
\treplication slot: FAILED (slot 'barman' not active: is 'receive-wal' running?)
\twal_level: OK
\treceive-wal running: FAILED (See the Barman log file for more details)
"""


def test_a_timeout_reports_barman_checks_failed_lines():
    fake = FakeBarman(done_after=10**6, check_out=LOST_SLOT_CHECK)
    report, _ = _take(fake, timeout=5)
    assert report["barman_check"] == [
        "replication slot: FAILED (slot 'barman' not active: is 'receive-wal' running?)",
        "receive-wal running: FAILED (See the Barman log file for more details)",
    ]
    assert fake.verbs("check") == [["barman", "check", "node1"]]


def test_no_barman_check_while_the_backup_goes_well():
    fake = FakeBarman(done_after=3, check_out=LOST_SLOT_CHECK)
    report, _ = _take(fake)
    assert report["status"] == "DONE"
    assert "barman_check" not in report
    assert fake.verbs("check") == []


def test_failed_backup_stops_at_once():
    fake = FakeBarman(done_after=0, final="FAILED")
    report, _ = _take(fake)
    assert report["status"] == "FAILED"
    assert fake.verbs("switch-wal") == []
    assert "is FAILED" in report["error"]


def test_no_backup_started_is_reported_with_barmans_words():
    fake = FakeBarman(backup_out="ERROR: Another backup process is running\n")
    report, _ = _take(fake)
    assert report["backup_id"] is None
    assert report["status"] is None
    assert "Another backup process is running" in report["error"]
    assert fake.verbs("switch-wal") == []


def test_problems_closing_the_segment_are_reported():
    fake = FakeBarman(done_after=10**6, conninfo=None, fail={"switch-wal"})
    report, _ = _take(fake, timeout=1)
    assert report["status"] != "DONE"
    assert any(p.startswith("switch-wal:") for p in report["problems"])
    assert any("no conninfo" in p for p in report["problems"])


def test_status_is_read_from_the_documented_field():
    out = json.dumps({"node1": {"status": "DONE", "base_backup_information": {"status": "nested-not-this"}}})

    def run(argv):
        return subprocess.CompletedProcess(argv, 0, out, "")

    assert obb.backup_status(run, "node1", BACKUP_ID) == "DONE"
    assert (
        obb.backup_status(lambda a: subprocess.CompletedProcess(a, 1, "not json", ""), "node1", "x") is None
    )


@pytest.mark.parametrize("argv", [[], ["a", "b"], ["--help"]])
def test_usage(argv, capsys):
    assert obb.main(argv) == 2
    assert "usage" in capsys.readouterr().err


def test_bad_timeout(monkeypatch, capsys):
    monkeypatch.setenv("OTUS_BARMAN_WAIT_TIMEOUT", "soon")
    assert obb.main(["node1"]) == 2
    assert "OTUS_BARMAN_WAIT_TIMEOUT" in capsys.readouterr().err


def test_archive_only_waits_for_the_closed_segment():
    fake = FakeBarman()
    clock = Clock()
    seen = []

    def exists(path):
        seen.append(path)
        return len(seen) >= 3

    report = obb.archive_current_wal(
        "node1", run=fake, waits=obb.Waits(clock=clock, sleep=clock.sleep, exists=exists)
    )
    assert report["archived"] is True
    assert report["wal"] == WAL
    assert seen[-1] == f"{WALS}/{WAL[:16]}/{WAL}"
    assert len(fake.verbs("switch-wal")) == 1
    assert len(fake.verbs("archive-wal")) == 3
    assert fake.verbs("backup") == []


def test_archive_only_times_out_with_a_message():
    fake = FakeBarman()
    clock = Clock()
    report = obb.archive_current_wal(
        "node1", run=fake, waits=obb.Waits(timeout=5, clock=clock, sleep=clock.sleep, exists=lambda p: False)
    )
    assert report["archived"] is False
    assert report["error"] == f"{WAL} not archived after 5 s"
    assert report["barman_check"] == []


def test_archive_only_without_a_closed_segment():
    fake = FakeBarman(conninfo=None)
    clock = Clock()
    report = obb.archive_current_wal(
        "node1", run=fake, waits=obb.Waits(clock=clock, sleep=clock.sleep, exists=lambda p: True)
    )
    assert report["archived"] is False
    assert "could not close" in report["error"]


def test_a_new_server_gets_its_first_wal_archived_before_the_backup():
    fake = FakeBarman(done_after=1)
    report, _ = _take(fake, archived=False)
    assert report["status"] == "DONE"
    first_switch = fake.calls.index(fake.verbs("switch-wal")[0])
    assert first_switch < fake.calls.index(["barman", "backup", "node1"])
    assert len(fake.verbs("switch-wal")) == 2


def test_has_archived_wal_looks_where_barman_keeps_segments():
    patterns = []

    def find(pattern):
        patterns.append(pattern)
        return []

    assert obb.has_archived_wal(WALS, find) is False
    assert patterns == [f"{WALS}/" + "[0-9A-F]" * 16 + "/" + "[0-9A-F]" * 24 + "*"]
    assert obb.has_archived_wal(WALS, lambda p: [f"{WALS}/0000000100000000/{WAL}"]) is True


FULL_ID = "20261122T030002"


class IncrementalBarman(FakeBarman):
    """FakeBarman with a newest full backup (`full`: show-backup's JSON of it, or None for none)."""

    def __init__(self, full=None, compression=None, incremental_out=None, **kwargs):
        super().__init__(**kwargs)
        self.full = full
        self.compression = compression
        self.incremental_out = incremental_out

    def __call__(self, argv):
        argv = list(argv)
        if "show-backup" in argv and argv[-1] == "latest-full":
            self.calls.append(argv)
            out = json.dumps({"node1": self.full}) if self.full else ""
            return subprocess.CompletedProcess(argv, 0 if self.full else 1, out, "")
        if "show-servers" in argv and self.compression:
            self.calls.append(argv)
            settings = {"conninfo": DSN, "wals_directory": WALS, "backup_compression": self.compression}
            return subprocess.CompletedProcess(argv, 0, json.dumps({"node1": settings}), "")
        if "backup" in argv and "--incremental" in argv and self.incremental_out is not None:
            self.calls.append(argv)
            return subprocess.CompletedProcess(argv, 1, "", self.incremental_out)
        return super().__call__(argv)


def _full(status="DONE", summarize_wal="on"):
    return {"backup_id": FULL_ID, "status": status, "server_information": {"summarize_wal": summarize_wal}}


def _take_incremental(fake):
    clock = Clock()
    waits = obb.Waits(clock=clock, sleep=clock.sleep, find=lambda pattern: [WAL], exists=lambda path: True)
    return obb.take_backup("node1", run=fake, waits=waits, incremental=True)


def test_incremental_builds_on_the_newest_full_by_its_id():
    fake = IncrementalBarman(full=_full())
    report = _take_incremental(fake)
    assert fake.verbs("backup") == [["barman", "backup", "--incremental", FULL_ID, "node1"]]
    assert report["status"] == "DONE"
    assert report["backup_type"] == "incremental"
    assert report["parent_backup_id"] == FULL_ID
    assert "full_because" not in report


@pytest.mark.parametrize(
    ("fake", "why"),
    [
        (IncrementalBarman(full=None), "no full backup yet"),
        (IncrementalBarman(full=_full(status="FAILED")), "not DONE"),
        (IncrementalBarman(full=_full(summarize_wal="off")), "without WAL summaries"),
        (IncrementalBarman(full=_full(), compression="gzip"), "backup_compression"),
    ],
    ids=["no-full", "full-failed", "no-summaries", "compressed"],
)
def test_a_full_backup_when_no_full_can_be_a_parent(fake, why):
    report = _take_incremental(fake)
    assert fake.verbs("backup") == [["barman", "backup", "node1"]]
    assert report["status"] == "DONE"
    assert report["backup_type"] == "full"
    assert report["parent_backup_id"] is None
    assert why in report["full_because"]


def test_an_incremental_barman_refuses_is_followed_by_a_full():
    refusal = "ERROR: WAL summaries are required on timeline 2 but do not exist"
    fake = IncrementalBarman(full=_full(), incremental_out=refusal)
    report = _take_incremental(fake)
    assert fake.verbs("backup") == [
        ["barman", "backup", "--incremental", FULL_ID, "node1"],
        ["barman", "backup", "node1"],
    ]
    assert report["status"] == "DONE"
    assert report["backup_type"] == "full"
    assert refusal in report["full_because"]


def test_an_incremental_that_failed_is_followed_by_a_full():
    fake = IncrementalBarman(full=_full(), done_after=0, final="FAILED")
    report = _take_incremental(fake)
    # Both attempts FAILED in this fake: the full's result is what is reported, not DONE.
    assert [c[2] for c in fake.verbs("backup")] == ["--incremental", "node1"]
    assert report["status"] == "FAILED"
    assert report["backup_type"] == "full"


def test_a_plain_run_never_asks_for_the_newest_full():
    fake = IncrementalBarman(full=_full())
    report, _ = _take(fake)
    assert report["backup_type"] == "full"
    assert not any("latest-full" in c for c in fake.calls)
    assert "full_because" not in report


def test_incremental_usage(capsys):
    assert obb.main(["--incremental"]) == 2
    assert "--incremental" in capsys.readouterr().err
