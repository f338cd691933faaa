"""barman_slot with a fake barman command: create, no-op, absent, check mode, errors."""

from __future__ import annotations

import json

import pytest

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import BarmanError, parse_slot_record
from ansible_collections.otus.pgrepl.plugins.modules import barman_slot
from tests.conftest import FakeRunner


class FakeBarman:
    """A barman whose server 'node1' has a slot, a receive-wal and a reachable primary to taste."""

    def __init__(self, slot=False, active=False, running=False, reachable=True, slot_name="barman"):
        self.slot = slot
        self.active = active
        self.running = running
        self.reachable = reachable
        self.slot_name = slot_name
        self.cron_starts_receive_wal = True

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
            if self.cron_starts_receive_wal and self.slot:
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
            if not self.reachable:
                info["connection_error"] = (
                    'connection to server at "10.0.0.1", port 5432 failed: Connection refused'
                )
            return 0, json.dumps({"node1": info}), ""
        if command == "check":
            ok = {"status": "OK", "hint": ""}
            bad = {"status": "FAILED", "hint": "See the Barman log file for more details"}
            return 0, json.dumps({"node1": {"receive_wal_running": ok if self.running else bad}}), ""
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


def runner(fake: FakeBarman) -> FakeRunner:
    return FakeRunner(handlers={"barman": fake, "systemctl": lambda argv, kw: fake(["barman", "cron"], kw)})


def changes(fake_runner: FakeRunner) -> list[list[str]]:
    """Calls that are not read-only."""
    return [c for c in fake_runner.calls if not ({"show-servers", "check"} & set(c))]


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
