"""barman_slot with a fake barman command: create, no-op, absent, check mode, errors,
and the receive-wal reset on a proven timeline divergence (with a fake primary)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.otus.pgrepl.plugins.module_utils import wal_position as wp
from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import (
    BarmanError,
    parse_slot_record,
    replication_conninfo,
)
from ansible_collections.otus.pgrepl.plugins.modules import barman_slot
from tests.conftest import FakeRunner

SEG = 16 * 1024 * 1024

# TIMELINE_HISTORY 16 and IDENTIFY_SYSTEM as psql -XAt printed them on the stand (PostgreSQL 17):
# 'filename|content', the history file's lines separated by blank lines.
REAL_HISTORY_16 = (
    "00000010.history|1\t0/D053778\tno recovery target specified\n\n"
    + "".join(
        f"{tli}\t{lsn}\tno recovery target specified\n\n"
        for tli, lsn in [
            (2, "0/1005F0C0"),
            (3, "0/1600C738"),
            (4, "0/1A03ACC8"),
            (5, "0/1F0220A0"),
            (6, "0/27000170"),
            (7, "0/2C000278"),
            (8, "0/34042798"),
            (9, "0/3904D340"),
            (10, "0/3D029AC0"),
            (11, "0/41023290"),
            (12, "0/45049F60"),
            (13, "0/4A04A290"),
            (14, "0/4E02C4D8"),
        ]
    )
    + "15\t0/52024080\tno recovery target specified\n"
)
REAL_IDENTIFY_SYSTEM = "7712529950278327666|16|0/5A019CC0|\n"


class FakePrimary:
    """The PostgreSQL primary behind Barman's streaming conninfo: IDENTIFY_SYSTEM and TIMELINE_HISTORY."""

    def __init__(
        self, timeline=17, xlogpos="0/5C0012A0", history="16\t0/5A0000D8\tno recovery target specified\n"
    ):
        self.timeline = timeline
        self.xlogpos = xlogpos
        self.history = history  # the content of TIMELINE_HISTORY <timeline>; None: there is no such file
        self.reachable = True

    def __call__(self, argv, kwargs):
        assert argv[argv.index("-d") + 1].endswith(" replication=true")
        command = argv[argv.index("-c") + 1]
        if not self.reachable:
            return (
                2,
                "",
                'psql: error: connection to server at "10.0.0.2", port 5432 failed: Connection refused',
            )
        if command == "IDENTIFY_SYSTEM":
            return 0, f"7712529950278327666|{self.timeline}|{self.xlogpos}|\n", ""
        if command == f"TIMELINE_HISTORY {self.timeline}" and self.history is not None:
            return 0, f"{self.timeline:08X}.history|{self.history}\n", ""
        tli = int(command.split()[-1])
        return 1, "", f'ERROR:  could not open file "pg_wal/{tli:08X}.history": No such file or directory'


class FakeBarman:
    """A barman whose server 'node1' has a slot, a receive-wal and a reachable primary to taste."""

    def __init__(self, slot=False, active=False, running=False, reachable=True, slot_name="barman"):
        self.slot = slot
        self.active = active
        self.running = running
        self.reachable = reachable
        self.slot_name = slot_name
        self.cron_starts_receive_wal = True
        # With a primary: Barman's WAL directories and a primary that answers replication commands.
        self.primary = None
        self.streaming = None
        self.wals = None
        self.diverged = False  # pg_receivewal cannot start until receive-wal --reset
        self.systemid_ok = True
        self.conninfo = None  # Barman's (non-replication) conninfo, shown when set

    def with_primary(self, tmp_path, primary, streaming=(), archived=()):
        self.primary = primary
        self.streaming = tmp_path / "streaming"
        self.wals = tmp_path / "wals"
        self.streaming.mkdir()
        self.wals.mkdir()
        for name in streaming:
            (self.streaming / name).write_text("")
        for name in archived:
            (self.wals / name[:16]).mkdir(exist_ok=True)
            (self.wals / name[:16] / name).write_text("")
        return self

    def reset(self):
        """What barman receive-wal --reset does: drop the newest .partial, mark the primary's current file."""
        if self.active:
            return 1, "", "ERROR: ArchiverFailure:replication slot 'barman' is already in use"
        segno = wp.parse_lsn(self.primary.xlogpos) // SEG
        current = wp.wal_name(self.primary.timeline, segno)
        names = sorted((n for n in os.listdir(self.streaming) if wp.parse_wal_file(n)), reverse=True)
        if names and names[0].endswith(".partial"):
            (self.streaming / names[0]).unlink()
        (self.streaming / (current + ".partial")).write_text("")
        self.diverged = False
        return 0, f"Resetting receive-wal directory status\nCreating status file {current}.partial", ""

    def record(self):
        if not self.slot:
            return None
        return f"Record(slot_name='{self.slot_name}', active={self.active}, restart_lsn='0/3000000')"

    def __call__(self, argv, kwargs):
        if argv[:1] == ["runuser"]:
            argv = argv[argv.index("--") + 1 :]
        args = argv[argv.index("barman") + 1 :] if "barman" in argv else argv
        if args[:2] == ["-f", "json"]:
            args = args[2:]
        command, rest = args[0], args[1:]
        if command == "cron":
            if self.cron_starts_receive_wal and self.slot and not self.diverged:
                self.running = True
                self.active = True
            return 0, "", ""
        server = rest[-1]
        if server != "node1":
            return 1, json.dumps({"_ERROR": [f"Unknown server '{server}'"]}), ""
        if command == "show-servers":
            info = {
                "slot_name": self.slot_name,
                "streaming_archiver": True,
                "replication_slot": self.record(),
            }
            if self.conninfo:
                info["conninfo"] = self.conninfo
            if not self.reachable:
                info["connection_error"] = (
                    'connection to server at "10.0.0.1", port 5432 failed: Connection refused'
                )
            if self.primary is not None:
                info.update(
                    streaming_wals_directory=str(self.streaming),
                    wals_directory=str(self.wals),
                    streaming_conninfo="host=10.0.0.2 port=5432 user=streaming_barman dbname=postgres",
                    xlog_segment_size=SEG,
                )
            return 0, json.dumps({"node1": info}), ""
        if command == "check":
            ok = {"status": "OK", "hint": ""}
            bad = {"status": "FAILED", "hint": "See the Barman log file for more details"}
            checks = {"receive_wal_running": ok if self.running else bad}
            if not self.systemid_ok:
                checks["systemid_coherence"] = {
                    "status": "FAILED",
                    "hint": "is the streaming DB still the same?",
                }
            return 0, json.dumps({"node1": checks}), ""
        if command == "receive-wal" and "--reset" in rest:
            return self.reset()
        if command == "receive-wal" and "--create-slot" in rest:
            if self.slot:
                return 1, "", "ERROR: Replication slot 'barman' already exists"
            self.slot = True
            return 0, "Replication slot 'barman' created", ""
        if command == "receive-wal" and "--drop-slot" in rest:
            self.slot = False
            return 0, "", ""
        if command == "receive-wal" and "--stop" in rest:
            self.running = False
            self.active = False
            return 0, "", ""
        return 2, "", f"unexpected barman call {args}"


def runner(fake: FakeBarman, psql=None) -> FakeRunner:
    """psql: answers psql on Barman's conninfo instead of the primary's replication commands."""
    return FakeRunner(
        handlers={
            "psql": psql or fake.primary,
            "barman": fake,
            "systemctl": lambda argv, kw: fake(["barman", "cron"], kw),
        }
    )


def changes(fake_runner: FakeRunner) -> list[list[str]]:
    """Calls that are not read-only."""
    return [c for c in fake_runner.calls if not ({"show-servers", "check", "psql"} & set(c))]


# Run barman directly (tests run as any user; one test covers runuser).
BASE = {"server": "node1", "slot_name": "barman", "wait_timeout": 2, "barman_user": "root"}


def test_creates_the_slot_and_starts_streaming(run_module):
    fake = FakeBarman()
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, BASE, calls)
    assert not failed, result["msg"]
    assert result["changed"] and result["created"]
    assert result["slot"] == {"name": "barman", "active": True, "restart_lsn": "0/3000000"}
    assert result["receive_wal_running"] is True
    made = changes(calls)
    assert any("--create-slot" in c for c in made)
    assert any(c[-1] == "cron" or "cron" in c for c in made)
    assert any("--create-slot" in c for c in result["commands"])


def test_second_run_changes_nothing(run_module):
    fake = FakeBarman(slot=True, active=True, running=True)
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, BASE, calls)
    assert not failed
    assert result["changed"] is False and result["created"] is False
    assert changes(calls) == []
    assert result["commands"] == []


def test_existing_slot_with_receive_wal_down_only_restarts_streaming(run_module):
    fake = FakeBarman(slot=True, active=False, running=False)
    calls = runner(fake)
    result, failed = run_module(
        barman_slot.main, dict(BASE, start_command=["systemctl", "start", "x.service"]), calls
    )
    assert not failed
    assert result["changed"] and not result["created"]
    assert not any("--create-slot" in c for c in calls.calls)
    assert ["systemctl", "start", "x.service"] in calls.calls


def test_absent_stops_receive_wal_then_drops_the_slot(run_module):
    fake = FakeBarman(slot=True, active=True, running=True)
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, dict(BASE, state="absent"), calls)
    assert not failed
    assert result["changed"] and result["dropped"]
    made = changes(calls)
    stop = next(i for i, c in enumerate(made) if "--stop" in c)
    drop = next(i for i, c in enumerate(made) if "--drop-slot" in c)
    assert stop < drop
    assert result["slot"] is None and fake.slot is False


def test_absent_when_already_gone_is_a_no_op(run_module):
    calls = runner(FakeBarman())
    result, failed = run_module(barman_slot.main, dict(BASE, state="absent"), calls)
    assert not failed and result["changed"] is False
    assert changes(calls) == []


@pytest.mark.parametrize("state", ["present", "absent"])
def test_check_mode_changes_nothing(run_module, state):
    fake = FakeBarman(slot=state == "absent", running=state == "absent", active=state == "absent")
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, dict(BASE, state=state), calls, check_mode=True)
    assert not failed
    assert result["changed"] is True
    assert changes(calls) == []
    assert result["commands"], "check mode reports what it would run"
    assert fake.slot is (state == "absent")


def test_unknown_server_is_a_clear_error(run_module):
    result, failed = run_module(barman_slot.main, dict(BASE, server="nosuch"), runner(FakeBarman()))
    assert failed and "Unknown server 'nosuch'" in result["msg"]


@pytest.mark.parametrize("slot", ["Barman", "bar-man", "x" * 64])
def test_invalid_slot_name_is_refused_before_barman_runs(run_module, slot):
    calls = runner(FakeBarman())
    result, failed = run_module(barman_slot.main, dict(BASE, slot_name=slot), calls)
    assert failed and "not a valid replication slot name" in result["msg"]
    assert calls.calls == []


def test_slot_name_must_match_barmans_configuration(run_module):
    result, failed = run_module(barman_slot.main, dict(BASE, slot_name="other"), runner(FakeBarman()))
    assert failed and "slot_name='barman'" in result["msg"]


def test_unreachable_primary_is_a_clear_error(run_module):
    calls = runner(FakeBarman(reachable=False))
    result, failed = run_module(barman_slot.main, BASE, calls)
    assert failed
    assert "cannot reach the PostgreSQL server of 'node1'" in result["msg"]
    assert "Connection refused" in result["msg"]
    assert changes(calls) == []


def test_slot_that_never_activates_fails_with_barmans_hints(run_module):
    fake = FakeBarman()
    fake.cron_starts_receive_wal = False
    result, failed = run_module(barman_slot.main, dict(BASE, wait_timeout=1), runner(fake))
    assert failed and "did not become active within 1s" in result["msg"]
    assert "receive_wal_running: FAILED" in result["msg"]


CONNINFO = "host=10.0.0.2 port=5432 user=barman dbname=postgres"


# As psql -XAt printed it on the stand (PostgreSQL 17) after checkpoints past max_slot_wal_keep_size.
@pytest.mark.parametrize(
    "answer, reason",
    [
        ("lost|wal_removed\n", "wal_removed"),
        ("lost|\n", "invalidated"),  # PostgreSQL 13-16 have no invalidation_reason
        ("unreserved|wal_removed\n", "wal_removed"),  # a client attached to it again after the loss
    ],
)
def test_a_lost_slot_fails_at_once_and_says_how_to_stream_again(run_module, answer, reason):
    fake = FakeBarman(slot=True, active=False, running=False)
    fake.conninfo = CONNINFO
    calls = runner(fake, lambda argv, kw: (0, answer, ""))
    result, failed = run_module(
        barman_slot.main, dict(BASE, wait_timeout=60, stop_command=["systemctl", "stop", "x.service"]), calls
    )
    assert failed
    assert f"Barman's slot 'barman' on the primary of 'node1' is lost ({reason})" in result["msg"]
    assert "systemctl stop x.service" in result["msg"] and "barman receive-wal --reset node1" in result["msg"]
    assert changes(calls) == []
    (query,) = calls.ran("psql")
    assert query[:2] == ["timeout", "30"]
    assert query[query.index("-c") + 1].endswith("WHERE s.slot_name = 'barman'")
    assert calls.envs[calls.calls.index(query)] == {"PGCONNECT_TIMEOUT": "10"}


@pytest.mark.parametrize(
    "psql",
    [
        lambda argv, kw: (0, "reserved|\n", ""),
        lambda argv, kw: (0, "|\n", ""),  # a slot made and never used yet
        lambda argv, kw: (2, "", "psql: error: connection refused"),
    ],
)
def test_a_slot_that_is_not_lost_is_started_as_before(run_module, psql):
    fake = FakeBarman(slot=True, active=False, running=False)
    fake.conninfo = CONNINFO
    calls = runner(fake, psql)
    result, failed = run_module(
        barman_slot.main, dict(BASE, start_command=["systemctl", "start", "x.service"]), calls
    )
    assert not failed, result["msg"]
    assert ["systemctl", "start", "x.service"] in calls.calls


def test_a_streaming_slot_is_not_asked_about(run_module):
    fake = FakeBarman(slot=True, active=True, running=True)
    fake.conninfo = CONNINFO
    calls = runner(fake, lambda argv, kw: (0, "lost|wal_removed\n", ""))
    result, failed = run_module(barman_slot.main, BASE, calls)
    assert not failed and calls.ran("psql") == []


def test_runs_barman_as_the_barman_user_when_root(run_module, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("pwd.getpwnam", lambda name: object())
    calls = runner(FakeBarman(slot=True, active=True, running=True))
    result, failed = run_module(barman_slot.main, dict(BASE, barman_user="barman"), calls)
    assert not failed, result["msg"]
    assert all(c[:4] == ["runuser", "-u", "barman", "--"] for c in calls.calls)


def test_slot_record_parsing():
    assert parse_slot_record(None) is None
    assert parse_slot_record("Record(slot_name='barman', active=False, restart_lsn=None)") == {
        "name": "barman",
        "active": False,
        "restart_lsn": None,
    }
    with pytest.raises(BarmanError):
        parse_slot_record("something else")


# WAL positions, names and timeline histories (pure functions).


def test_lsn_round_trip():
    assert wp.parse_lsn("0/5A0000D8") == 0x5A0000D8
    assert wp.parse_lsn("1/3") == (1 << 32) + 3
    assert wp.format_lsn(0x1_0300_0000) == "1/3000000"
    assert wp.format_lsn(wp.parse_lsn("0/5A019CC0")) == "0/5A019CC0"
    with pytest.raises(wp.WalError):
        wp.parse_lsn("5A0000D8")


def test_wal_file_names():
    partial = wp.parse_wal_file("00000010000000000000005A.partial")
    assert partial == {
        "name": "00000010000000000000005A",
        "timeline": 16,
        "segno": 0x5A,
        "partial": True,
        "start": 0x5A000000,
        "end": 0x5B000000,
    }
    # LSN of a segment start: (log << 32) + seg * 16 MB.
    assert wp.parse_wal_file("/x/streaming/000000110000000100000003")["start"] == (1 << 32) + 3 * SEG
    assert wp.parse_wal_file("00000010.history") is None
    assert wp.parse_wal_file("000000010000000000000002.00000028.backup") is None
    assert wp.parse_wal_file("0000001000000000000001000") is None
    assert wp.parse_wal_file("000000010000000000000100") is None  # no segment 0x100 of 16 MB in a log
    assert wp.wal_name(17, 0x5B) == "00000011000000000000005B"
    assert wp.wal_name(1, (1 << 32) // SEG + 3) == "000000010000000100000003"
    # Another segment size: 64 segments of 64 MB in each log.
    assert wp.wal_name(1, 64 + 2, 64 * 1024 * 1024) == "000000010000000100000002"
    assert (
        wp.parse_wal_file("000000010000000100000002", 64 * 1024 * 1024)["start"]
        == (1 << 32) + 2 * 64 * 1024 * 1024
    )


def test_newest_wal_and_where_pg_receivewal_resumes():
    names = [
        "00000010.history",
        "000000100000000000000059",
        "00000010000000000000005A.partial",
        "0000000F000000000000005A",
    ]
    newest = wp.newest_wal(names)
    assert newest["name"] == "00000010000000000000005A" and newest["partial"]
    assert wp.resume_position(newest) == 0x5A000000  # a .partial is fetched again from its start
    complete = wp.newest_wal(["00000010000000000000005A", "00000010000000000000005A.partial"])
    assert not complete["partial"] and wp.resume_position(complete) == 0x5B000000
    assert wp.newest_wal(["00000010.history"]) is None


def test_parse_identify_system_as_psql_prints_it():
    assert wp.parse_identify_system(REAL_IDENTIFY_SYSTEM) == {
        "systemid": "7712529950278327666",
        "timeline": 16,
        "xlogpos": 0x5A019CC0,
    }
    with pytest.raises(wp.WalError):
        wp.parse_identify_system("")
    with pytest.raises(wp.WalError):
        wp.parse_identify_system("7712529950278327666|x|0/1|")


def test_parse_timeline_history_as_psql_prints_it():
    filename, content = wp.parse_timeline_history_output(REAL_HISTORY_16)
    assert filename == "00000010.history"
    history = wp.parse_timeline_history(content)
    assert [tli for tli, _lsn, _reason in history] == list(range(1, 16))
    assert history[0] == (1, 0x0D053778, "no recovery target specified")
    assert history[-1][:2] == (15, 0x52024080)
    assert wp.fork_point(history, 15, 16) == (0x52024080, 16)
    assert wp.fork_point(history, 3, 16) == (0x1600C738, 4)
    assert wp.fork_point(history, 16, 16) is None
    assert wp.timeline_at(history, 16, 0x52024080) == 16
    assert wp.timeline_at(history, 16, 0x52024080 - 1) == 15


def test_timeline_history_in_hex_and_bad_histories():
    hexed = "00000002.history|\\x" + b"1\t0/3000158\tno recovery target specified\n".hex()
    assert wp.parse_timeline_history(wp.parse_timeline_history_output(hexed)[1]) == [
        (1, 0x3000158, "no recovery target specified")
    ]
    with pytest.raises(wp.WalError):
        wp.parse_timeline_history_output("ERROR: no such file")
    with pytest.raises(wp.WalError):
        wp.parse_timeline_history("1 0/3000158\n1 0/4000000\n")  # timelines must go up
    with pytest.raises(wp.WalError):
        wp.parse_timeline_history("garbage\n")
    assert wp.parse_timeline_history("# comment\n\n2\t0/5\tx\n") == [(2, 5, "x")]


FORKED = wp.parse_timeline_history("15\t0/52024080\tx\n16\t0/5A0000D8\tno recovery target specified\n")


@pytest.mark.parametrize(
    ("barman_tli", "barman_at", "primary_tli", "history", "proven", "words"),
    [
        # Barman past the fork on the old timeline: the primary cannot stream from there.
        (16, 0x5B000000, 17, FORKED, True, "past 0/5A0000D8"),
        (16, 0x5A0000D9, 17, FORKED, True, "left timeline 16 for 17"),
        # Behind (or at) the fork on the old timeline: the primary streams timeline 16 up to it, then 17.
        (16, 0x5A000000, 17, FORKED, False, "not past 0/5A0000D8"),
        (16, 0x5A0000D8, 17, FORKED, False, "can stream from there"),
        # Same timeline: no divergence.
        (17, 0x5B000000, 17, FORKED, False, "no timeline divergence"),
        # No history available.
        (16, 0x5B000000, 17, None, False, "not available"),
        (16, 0x5B000000, 17, [], False, "not available"),
        # Barman's timeline is not in the primary's history (a sibling branch).
        (14, 0x5B000000, 17, FORKED, False, "not in the primary's history"),
        # Barman ahead of the primary's timeline.
        (18, 0x5B000000, 17, FORKED, False, "newer than the primary's timeline 17"),
    ],
)
def test_divergence_is_proven_only_past_the_fork_of_an_older_timeline(
    barman_tli, barman_at, primary_tli, history, proven, words
):
    verdict = wp.diagnose_divergence(barman_tli, barman_at, primary_tli, history)
    assert verdict["proven"] is proven
    assert words in verdict["reason"]
    if proven:
        assert verdict["fork_lsn"] == "0/5A0000D8" and verdict["fork_timeline"] == 17


# Timeline 17 from its fork off 16 to where streaming resumes (0/5C000000): two segments.
GAP_17 = {
    "timeline": 17,
    "timelines": [17],
    "from_lsn": "0/5A0000D8",
    "to_lsn": "0/5C000000",
    "from_wal": "00000011000000000000005A",
    "to_wal": "00000011000000000000005B",
}


def test_wal_gap_from_the_fork_to_where_streaming_resumes():
    assert wp.wal_gap(FORKED, 17, 0x5A0000D8, 0x5C000000) == GAP_17
    # Streaming resumes in the segment of the fork, before it: nothing is missing.
    assert wp.wal_gap(FORKED, 17, 0x5A0000D8, 0x5A000000) is None
    # Two failovers since Barman's timeline 15: the gap spans timelines 16 and 17.
    gap = wp.wal_gap(FORKED, 17, 0x52024080, 0x5C000000)
    assert gap["timeline"] == 16 and gap["timelines"] == [16, 17]
    assert gap["from_wal"] == "000000100000000000000052" and gap["to_wal"] == "00000011000000000000005B"
    report = wp.gap_report("node1", gap, "00000011000000000000005C.partial", "0/52024080", 15)
    assert "WAL of timelines 16 to 17 from LSN 0/52024080 to LSN 0/5C000000" in report


def test_replication_conninfo():
    assert (
        replication_conninfo("host=h user=streaming_barman")
        == "host=h user=streaming_barman replication=true"
    )
    assert replication_conninfo("postgresql://u@h/db") == "postgresql://u@h/db?replication=true"
    assert replication_conninfo("postgresql://u@h/db?sslmode=require").endswith("&replication=true")


# The reset on a proven divergence, through the module.

DIVERGED = dict(BASE, wait_timeout=1, reset_on_divergence=True)


def diverged(
    tmp_path, primary=None, streaming=("00000010.history", "00000010000000000000005B.partial"), **kw
):
    """Barman streamed timeline 16 to 0/5B...; the new primary left timeline 16 at 0/5A0000D8 for 17."""
    fake = FakeBarman(slot=True).with_primary(tmp_path, primary or FakePrimary(), streaming=streaming, **kw)
    fake.diverged = True
    return fake


def ran(calls, *words):
    return [c for c in calls.calls if all(w in c for w in words)]


def test_proven_divergence_resets_receive_wal_and_reports_the_gap(run_module, tmp_path):
    fake = diverged(tmp_path)
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, DIVERGED, calls)
    assert not failed, result["msg"]
    assert result["changed"] and result["reset"] is True
    assert result["slot"]["active"] and result["receive_wal_running"]
    made = changes(calls)
    stop = made.index(ran(calls, "receive-wal", "--stop")[0])
    reset = made.index(ran(calls, "receive-wal", "--reset")[0])
    assert stop < reset < len(made) - 1 and "cron" in made[-1]
    assert result["wal_gap"] == GAP_17
    report = result["gap_report"]
    assert "WAL of timeline 17 from LSN 0/5A0000D8 to LSN 0/5C000000" in report
    assert "(files 00000011000000000000005A..00000011000000000000005B) is not in Barman's archive" in report
    assert "resume at 00000011000000000000005C.partial" in report
    assert "Point-in-time recovery into that range is impossible" in report
    assert "the end of the next base backup (take one now)" in report
    diagnosis = result["divergence"]
    assert diagnosis["proven"] and diagnosis["fork_lsn"] == "0/5A0000D8"
    assert diagnosis["barman"] == {
        "timeline": 16,
        "lsn": "0/5B000000",
        "wal": "00000010000000000000005B.partial",
        "source": "streaming",
    }
    assert diagnosis["primary"] == {"systemid": "7712529950278327666", "timeline": 17, "lsn": "0/5C0012A0"}
    assert any("--reset" in c for c in result["commands"])
    # The primary was asked over a replication connection made from Barman's streaming conninfo.
    assert [c[-1] for c in calls.ran("psql")] == ["IDENTIFY_SYSTEM", "TIMELINE_HISTORY 17"]


def test_a_complete_segment_past_the_fork_is_proven_too(run_module, tmp_path):
    fake = diverged(tmp_path, streaming=("00000010000000000000005A",))
    result, failed = run_module(barman_slot.main, DIVERGED, runner(fake))
    assert not failed, result["msg"]
    assert result["reset"] and result["divergence"]["barman"]["lsn"] == "0/5B000000"


def test_barmans_archive_counts_when_streaming_is_empty(run_module, tmp_path):
    fake = diverged(tmp_path, streaming=(), archived=("00000010000000000000005B", "000000100000000000000059"))
    result, failed = run_module(barman_slot.main, DIVERGED, runner(fake))
    assert not failed, result["msg"]
    assert result["divergence"]["barman"]["source"] == "archive"
    assert result["divergence"]["barman"]["lsn"] == "0/5C000000"
    assert result["reset"] and result["wal_gap"]["to_wal"] == "00000011000000000000005B"


@pytest.mark.parametrize(
    ("primary", "streaming", "words"),
    [
        # Barman behind the fork on the old timeline.
        (
            FakePrimary(),
            ("00000010000000000000005A.partial",),
            "not past 0/5A0000D8 where the primary's history",
        ),
        # Same timeline.
        (
            FakePrimary(timeline=16, history=None),
            ("00000010000000000000005B.partial",),
            "no timeline divergence",
        ),
        # No history available.
        (
            FakePrimary(history=None),
            ("00000010000000000000005B.partial",),
            "history of timeline 17 is not available",
        ),
        # Barman holds no WAL at all.
        (FakePrimary(), (), "Barman holds no WAL of the server"),
    ],
)
def test_unproven_divergence_fails_without_a_reset(run_module, tmp_path, primary, streaming, words):
    fake = diverged(tmp_path, primary, streaming=streaming)
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, DIVERGED, calls)
    assert failed
    assert result["reset"] is False and result["wal_gap"] is None
    assert not ran(calls, "--reset") and not ran(calls, "--stop")
    msg = result["msg"]
    assert "did not become active within 1s" in msg and "receive_wal_running: FAILED" in msg
    assert "No receive-wal --reset: a timeline divergence is not proven" in msg
    assert words in msg
    assert f"primary at timeline {primary.timeline} LSN 0/5C0012A0" in msg
    assert result["divergence"]["proven"] is False


def test_diagnosis_in_the_message_names_both_positions_and_the_fork(run_module, tmp_path):
    fake = diverged(tmp_path, streaming=("00000010000000000000005A.partial",))
    result, failed = run_module(barman_slot.main, DIVERGED, runner(fake))
    assert failed
    assert (
        "[Barman at timeline 16 LSN 0/5A000000 (00000010000000000000005A.partial in streaming); "
        "primary at timeline 17 LSN 0/5C0012A0; fork at 0/5A0000D8]"
    ) in result["msg"]


def test_unreachable_primary_or_another_system_is_not_proven(run_module, tmp_path):
    fake = diverged(tmp_path)
    fake.primary.reachable = False
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, DIVERGED, calls)
    assert failed and "could not read the primary's position" in result["msg"]
    assert "Connection refused" in result["msg"] and not ran(calls, "--reset")

    (tmp_path / "other").mkdir()
    fake = diverged(tmp_path / "other")
    fake.systemid_ok = False
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, DIVERGED, calls)
    assert failed and "systemid_coherence: FAILED" in result["msg"] and not ran(calls, "--reset")


def test_without_the_option_a_divergence_is_only_a_failure(run_module, tmp_path):
    fake = diverged(tmp_path)
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, dict(DIVERGED, reset_on_divergence=False), calls)
    assert failed and "did not become active within 1s" in result["msg"]
    assert not calls.ran("psql") and not ran(calls, "--reset")
    assert result["reset"] is False and result["divergence"] is None


def test_check_mode_diagnoses_but_runs_no_reset(run_module, tmp_path):
    fake = diverged(tmp_path)
    fake.slot = False  # the slot is still to be made on the new primary
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, DIVERGED, calls, check_mode=True)
    assert not failed, result["msg"]
    assert changes(calls) == [] and not ran(calls, "--reset")
    assert result["reset"] is True and result["divergence"]["proven"]
    assert [c.split()[-2] for c in result["commands"] if "receive-wal" in c] == [
        "--create-slot",
        "--stop",
        "--reset",
    ]
    # What Barman's reset would pick: the primary's current segment.
    assert result["wal_gap"]["to_lsn"] == "0/5C000000"
    assert result["gap_report"].startswith("Check mode, nothing was reset.")
    assert (tmp_path / "streaming" / "00000010000000000000005B.partial").exists()


def test_check_mode_with_an_unproven_divergence_reports_it_and_does_not_fail(run_module, tmp_path):
    fake = diverged(tmp_path, streaming=("00000010000000000000005A.partial",))
    calls = runner(fake)
    result, failed = run_module(barman_slot.main, DIVERGED, calls, check_mode=True)
    assert not failed
    assert result["reset"] is False and result["divergence"]["proven"] is False
    assert not any("--reset" in c for c in result["commands"])


def test_reset_on_divergence_needs_wait(run_module):
    result, failed = run_module(barman_slot.main, dict(DIVERGED, wait=False), runner(FakeBarman()))
    assert failed and "needs wait=true" in result["msg"]


def test_a_supervising_unit_is_stopped_through_its_stop_command_before_the_reset(run_module, tmp_path):
    fake = diverged(tmp_path)
    calls = runner(fake)
    start = calls.handlers["systemctl"]
    calls.handlers["systemctl"] = lambda argv, kw: (0, "", "") if argv[1] == "stop" else start(argv, kw)
    unit = "otus-barman-receive-wal@node1.service"
    args = dict(DIVERGED, stop_command=["systemctl", "stop", unit])
    args["start_command"] = ["systemctl", "start", unit]
    result, failed = run_module(barman_slot.main, args, calls)
    assert not failed, result["msg"]
    made = changes(calls)
    unit_stop = made.index(["systemctl", "stop", unit])
    barman_stop = made.index(ran(calls, "receive-wal", "--stop")[0])
    reset = made.index(ran(calls, "receive-wal", "--reset")[0])
    last_start = len(made) - 1 - made[::-1].index(["systemctl", "start", unit])
    assert unit_stop < barman_stop < reset < last_start
