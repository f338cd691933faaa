"""barman_restore: backup choice, target checks and destination guards, with a fake barman."""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.otus.pgrepl.plugins.module_utils import restore_run
from ansible_collections.otus.pgrepl.plugins.module_utils import restore_target as rt
from ansible_collections.otus.pgrepl.plugins.module_utils import wal_position as wp
from ansible_collections.otus.pgrepl.plugins.modules import barman_restore
from tests.conftest import FakeRunner

BACKUPS = {
    "20261125T100000": ("2026-11-25 10:00:05.5+00:00", "0/4000000"),
    "20261125T120000": ("2026-11-25 12:00:07+00:00", "0/9000000"),
}
BASE = {"server": "node1", "destination": "/restore/node1", "barman_user": "root"}
# Barman's WAL index; the autouse fixture writes it with a segment archived just now.
WALS = {"dir": None}


@pytest.fixture(autouse=True)
def wal_index(tmp_path):
    WALS["dir"] = str(tmp_path)
    index = tmp_path / "node1-xlog.db"
    index.write_text(
        "00000001.history\t42\t1764064800.0\tNone\n"
        f"000000010000000000000020\t16777216\t{time.time()}\tNone\n"
        "00000001000000000000001F\t16777216\t1764064800.0\tNone\n"
    )
    return index


# What CI's restore scenario printed when Barman lost its temporary directory.
LOST = (
    "err",
    "EXCEPTION: [Errno 2] No such file or directory: '/tmp/barman_recovery-8siw_v6z/recovery.signal'\n"
    "See log file for more details.",
)
SSH = "ssh -o BatchMode=yes postgres@10.0.0.3"


def fake_barman(backups=BACKUPS, restore_rc=0, extra=(), restore_errors=(), backup_type="full"):
    errors = list(restore_errors)
    listing = [{"backup_id": i, "status": "DONE"} for i in backups] + list(extra)

    def handler(argv, _kw):
        argv = argv[argv.index("--") + 1 :] if argv[0] == "runuser" else argv
        cmd = argv[argv.index("json") + 1] if "json" in argv else argv[1]
        if cmd == "list-backups":
            return 0, json.dumps({"node1": listing}), ""
        if cmd == "show-backup":
            backup_id = argv[-1]
            end_time, end_lsn = backups[backup_id]
            info = {"end_time": end_time, "end_lsn": end_lsn}
            shown = {
                "backup_id": backup_id,
                "status": "DONE",
                "backup_type": backup_type,
                "base_backup_information": info,
            }
            return 0, json.dumps({"node1": shown}), ""
        if cmd == "show-servers":
            return 0, json.dumps({"node1": {"wals_directory": WALS["dir"]}}), ""
        if cmd == "restore" and errors:
            stream, text = errors.pop(0)
            return (1, text, "") if stream == "out" else (1, "Copying the base backup.", text)
        if cmd == "restore":
            return restore_rc, "Restore operation completed", "" if restore_rc == 0 else "boom"
        return 1, "", f"unexpected {argv}"

    return handler


def runner(dest_state="absent", remote=False, empty_rc=0, **kw):
    """Barman plus the destination's shell, here or (remote=True) behind SSH, where every command
    reaches the host as one string."""

    def shell(argv, _kw):
        script = argv[-1] if remote else " ".join(argv)
        if "-delete" in script:
            return empty_rc, "", "" if empty_rc == 0 else "find: cannot delete"
        if "rm -rf" in script or script.startswith("mv "):
            return 0, "", ""
        return 0, dest_state + "\n", ""

    return FakeRunner({"barman": fake_barman(**kw), "ssh" if remote else "sh": shell, "mv": shell})


def restore_call(calls):
    return [c for c in calls.ran("barman") if "restore" in c]


def test_restores_the_newest_backup_that_ends_before_the_time_target(run_module):
    calls = runner()
    result, failed = run_module(barman_restore.main, dict(BASE, target_time="2026-11-25 11:00:00+00"), calls)
    assert not failed, result
    assert result["changed"] is True
    assert result["backup_id"] == "20261125T100000"
    (argv,) = restore_call(calls)
    assert argv[-3:] == ["node1", "20261125T100000", "/restore/node1"]
    assert argv[argv.index("--target-time") + 1] == "2026-11-25 11:00:00+00"
    assert argv[argv.index("--target-action") + 1] == "promote"


def test_without_a_target_takes_the_newest_and_passes_no_target_action(run_module):
    calls = runner()
    result, failed = run_module(barman_restore.main, BASE, calls)
    assert not failed, result
    assert result["backup_id"] == "20261125T120000"
    (argv,) = restore_call(calls)
    assert "--target-action" not in argv
    assert result["target"] == {"kind": None, "value": None}


def test_lsn_target_picks_by_end_lsn_and_pause_is_passed(run_module):
    calls = runner()
    args = dict(BASE, target_lsn="0/8FFFFFF", target_action="pause")
    result, failed = run_module(barman_restore.main, args, calls)
    assert not failed, result
    assert result["backup_id"] == "20261125T100000"
    (argv,) = restore_call(calls)
    assert argv[argv.index("--target-lsn") + 1] == "0/8FFFFFF"
    assert argv[argv.index("--target-action") + 1] == "pause"


def test_target_before_every_backup_fails_before_restoring(run_module):
    calls = runner()
    result, failed = run_module(barman_restore.main, dict(BASE, target_time="2026-11-25 09:00:00+00"), calls)
    assert failed
    assert "before the end of the oldest DONE backup" in result["msg"]
    assert restore_call(calls) == []


def test_target_before_the_chosen_backup_ended_fails(run_module):
    calls = runner()
    args = dict(BASE, backup_id="20261125T120000", target_lsn="0/5000000")
    result, failed = run_module(barman_restore.main, args, calls)
    assert failed
    assert "can only be rolled forward" in result["msg"]
    assert restore_call(calls) == []


def test_no_done_backup_is_a_clear_error(run_module):
    calls = runner(backups={}, extra=[{"backup_id": "20261125T130000", "status": "FAILED"}])
    result, failed = run_module(barman_restore.main, BASE, calls)
    assert failed
    assert "has no DONE backup to restore" in result["msg"]
    assert restore_call(calls) == []


def test_unknown_backup_id_names_the_ones_there_are(run_module):
    result, failed = run_module(barman_restore.main, dict(BASE, backup_id="20200101T000000"), runner())
    assert failed
    assert "20261125T100000" in result["msg"] and "20261125T120000" in result["msg"]


@pytest.mark.parametrize("state", ["used", "running"])
def test_non_empty_or_running_destination_is_refused_without_force(run_module, state):
    calls = runner(dest_state=state)
    result, failed = run_module(barman_restore.main, BASE, calls)
    assert failed
    assert "nothing was changed" in result["msg"]
    assert restore_call(calls) == [] and calls.ran("mv") == []


def test_force_renames_the_old_directory_aside_then_restores(run_module):
    calls = runner(dest_state="used")
    result, failed = run_module(barman_restore.main, dict(BASE, force=True), calls)
    assert not failed, result
    (mv,) = calls.ran("mv")
    assert mv[-2] == "/restore/node1" and mv[-1].startswith("/restore/node1.before-restore-")
    assert result["moved_aside"] == mv[-1]
    assert len(restore_call(calls)) == 1
    assert calls.calls.index(mv) < calls.calls.index(restore_call(calls)[0])


def test_remote_destination_is_inspected_through_the_ssh_command(run_module):
    calls = FakeRunner({"barman": fake_barman(), "ssh": lambda a, k: (0, "empty\n", "")})
    ssh = "ssh -o BatchMode=yes postgres@10.0.0.3"
    result, failed = run_module(barman_restore.main, dict(BASE, remote_ssh_command=ssh), calls)
    assert not failed, result
    probe = [c for c in calls.calls if c[0] == "ssh"][0]
    assert probe[:4] == ["ssh", "-o", "BatchMode=yes", "postgres@10.0.0.3"]
    (argv,) = restore_call(calls)
    assert argv[argv.index("--remote-ssh-command") + 1] == ssh


def test_check_mode_reports_the_command_and_restores_nothing(run_module):
    calls = runner(dest_state="used")
    args = dict(BASE, force=True, target_immediate=True)
    result, failed = run_module(barman_restore.main, args, calls, check_mode=True)
    assert not failed, result
    assert result["changed"] is True
    assert restore_call(calls) == [] and calls.ran("mv") == []
    assert any("--target-immediate" in c for c in result["commands"])


def test_failed_barman_restore_fails_the_module(run_module):
    result, failed = run_module(barman_restore.main, BASE, runner(restore_rc=1))
    assert failed
    assert "barman restore failed" in result["msg"]


def test_two_targets_are_refused(run_module):
    calls = runner()
    args = dict(BASE, target_xid="700", target_name="before_upgrade")
    result, failed = run_module(barman_restore.main, args, calls)
    assert failed
    assert "at most one recovery target" in result["msg"]
    assert calls.calls == []


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25 18:00:00+00",
        "2026-11-25T18:00:00+00:00",
        "2026-11-25 18:00:00.123456+0530",
        "2026-11-25 18:00:00 UTC",
    ],
)
def test_times_with_an_offset_parse(text):
    assert rt.parse_time(text).tzinfo is not None


@pytest.mark.parametrize("text", ["2026-11-25 18:00:00", "yesterday"])
def test_times_without_an_offset_or_garbage_are_refused(text):
    with pytest.raises(rt.TargetError):
        rt.parse_time(text)


def test_lsn_parses_and_prints_back():
    assert rt.parse_lsn("1/A0") == (1 << 32) + 0xA0
    assert rt.format_lsn(rt.parse_lsn("0/3000028")) == "0/3000028"
    with pytest.raises(rt.TargetError):
        rt.parse_lsn("3000028")


def test_xid_must_be_a_number():
    with pytest.raises(rt.TargetError):
        rt.target_of({"target_xid": "abc"})
    assert rt.target_of({"target_xid": "123"}) == ("xid", "123")


def test_ssh_probe_runs_as_the_barman_user_when_root(run_module, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("pwd.getpwnam", lambda name: object())
    # The probe's argv names the barman user too: let the ssh handler see it first.
    calls = FakeRunner({"ssh": lambda a, k: (0, "empty\n", ""), "barman": fake_barman()})
    args = dict(BASE, barman_user="barman", remote_ssh_command="ssh postgres@10.0.0.3")
    result, failed = run_module(barman_restore.main, args, calls)
    assert not failed, result
    probe = [c for c in calls.calls if "ssh" in c and "restore" not in c][0]
    assert probe[:5] == ["runuser", "-u", "barman", "--", "ssh"]
    assert all(c[:4] == ["runuser", "-u", "barman", "--"] for c in calls.ran("barman"))


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ({"backup_id": "latest"}, 1),
        ({"backup_id": "20261125T100000"}, 1),
        ({"target_time": "2026-11-25 13:00:00+00"}, 2),
    ],
)
def test_only_the_backups_the_choice_needs_are_read(run_module, args, shown):
    calls = runner()
    result, failed = run_module(barman_restore.main, dict(BASE, **args), calls)
    assert not failed, result
    assert len([c for c in calls.ran("barman") if "show-backup" in c]) == shown


# -- targets the archive proves unreachable, rollback, bounded moved-aside copies -----------


def test_a_time_in_the_future_is_refused_before_anything_is_copied(run_module):
    calls = runner(dest_state="used")
    result, failed = run_module(
        barman_restore.main, dict(BASE, force=True, target_time="2099-01-01 00:00:00+00"), calls
    )
    assert failed and "in the future" in result["msg"]
    assert restore_call(calls) == [] and calls.ran("mv") == []


def test_a_time_after_the_newest_archived_wal_is_refused_and_names_it(run_module, wal_index):
    archived = rt.parse_time("2026-11-25 13:00:00+00").timestamp()
    wal_index.write_text(f"000000010000000000000020\t16777216\t{archived}\tNone\n")
    calls = runner(dest_state="used")
    args = dict(BASE, force=True, target_time="2026-11-25 13:30:00+00")
    result, failed = run_module(barman_restore.main, args, calls)
    assert failed, result
    assert "not reachable from Barman's archive" in result["msg"]
    assert "000000010000000000000020" in result["msg"] and "2026-11-25 13:00:00+00:00" in result["msg"]
    assert restore_call(calls) == [] and calls.ran("mv") == []


def test_an_lsn_past_the_archive_is_refused_with_the_last_reachable_position(run_module):
    calls = runner()
    result, failed = run_module(barman_restore.main, dict(BASE, target_lsn="0/21000000"), calls)
    assert failed and "ends at LSN 0/21000000" in result["msg"]
    assert restore_call(calls) == []
    ok, failed = run_module(barman_restore.main, dict(BASE, target_lsn="0/20FFFFFF"), runner())
    assert not failed, ok


def test_in_check_mode_an_archive_shortfall_is_a_warning(run_module, wal_index):
    wal_index.write_text("00000001000000000000000A\t16777216\t1764072000.0\tNone\n")
    calls = runner()
    result, failed = run_module(
        barman_restore.main, dict(BASE, target_lsn="0/9000000"), calls, check_mode=True
    )
    assert failed is False, result
    result, failed = run_module(
        barman_restore.main, dict(BASE, target_lsn="0/F000000"), runner(), check_mode=True
    )
    assert not failed and result["newest_archived_wal"] == "00000001000000000000000A"


def test_unchecked_archive_still_refuses_a_future_time(run_module):
    args = dict(BASE, target_time="2099-01-01 00:00:00+00", check_archive=False)
    result, failed = run_module(barman_restore.main, args, runner())
    assert failed and "in the future" in result["msg"]


def test_a_failed_copy_puts_the_old_directory_back(run_module):
    calls = runner(dest_state="used", restore_rc=1)
    result, failed = run_module(barman_restore.main, dict(BASE, force=True), calls)
    assert failed and "put back" in result["msg"] and "moved_aside" not in result
    (undo,) = [c for c in calls.ran("sh") if "rm -rf" in " ".join(c)]
    assert undo[-2] == "/restore/node1" and undo[-1].startswith("/restore/node1.before-restore-")


def test_wal_index_helpers():
    text = (
        "00000002.history\t1\t9.0\tNone\n"
        "00000001000000000000000F\t1\t5.0\tNone\n"
        "000000020000000000000010\t1\t7.0\tNone\n"
    )
    assert rt.newest_archived(text) == ("000000020000000000000010", 7.0)
    assert rt.newest_archived("") == (None, None)
    assert rt.format_lsn(wp.parse_wal_file("0000000100000001000000FF")["end"]) == "2/0"


def scripts(calls, word):
    return [c for c in calls.ran("ssh") if word in c[-1]]


@pytest.mark.parametrize("state", ["absent", "empty", "used"])
@pytest.mark.parametrize("stream", ["err", "out"])
def test_a_restore_that_lost_barmans_temporary_directory_is_emptied_and_run_once_more(
    run_module, monkeypatch, state, stream
):
    warned = []
    monkeypatch.setattr(barman_restore.AnsibleModule, "warn", lambda self, text: warned.append(text))
    calls = runner(state, remote=True, backup_type="incremental", restore_errors=[(stream, LOST[1])])
    result, failed = run_module(barman_restore.main, dict(BASE, force=True, remote_ssh_command=SSH), calls)
    assert not failed, result
    first, second = restore_call(calls)
    (empty,) = scripts(calls, "-delete")
    assert calls.calls.index(first) < calls.calls.index(empty) and calls.calls[-1] == second == first
    assert empty[:4] == ["ssh", "-o", "BatchMode=yes", "postgres@10.0.0.3"]
    assert empty[-1].endswith(" /restore/node1") and "find -H" in empty[-1]
    assert "barman_recovery-8siw_v6z" in result["retried"]
    assert any("lost its temporary directory" in w and "recovery.signal" in w for w in warned)
    assert ("moved_aside" in result) == (state == "used")


def test_rsync_losing_the_temporary_directory_counts_too():
    # Barman prints a failed rsync as its CommandFailedException's dict, on one line.
    assert restore_run.lost_tempdir(
        "ERROR: remote copy of recovery.signal failed: {'ret': 23, 'out': '', 'err': 'rsync: [sender] "
        'change_dir "/tmp/barman_recovery-ab12cd34" failed: No such file or directory (2)\\n\'}'
    )
    assert not restore_run.lost_tempdir(
        "EXCEPTION: [Errno 2] No such file or directory: '/var/lib/barman/x'\n/tmp/barman_recovery-a"
    )


def test_a_second_loss_fails_and_puts_the_old_directory_back(run_module):
    calls = runner("used", remote=True, backup_type="incremental", restore_errors=[LOST, LOST])
    result, failed = run_module(barman_restore.main, dict(BASE, force=True, remote_ssh_command=SSH), calls)
    assert failed and "put back" in result["msg"] and "barman_recovery-" in result["msg"]
    assert len(restore_call(calls)) == 2 and len(scripts(calls, "rm -rf --")) == 1


def test_a_destination_that_cannot_be_emptied_fails_and_puts_the_old_directory_back(run_module):
    calls = runner("used", remote=True, empty_rc=1, backup_type="incremental", restore_errors=[LOST])
    result, failed = run_module(barman_restore.main, dict(BASE, force=True, remote_ssh_command=SSH), calls)
    assert failed and "cannot empty" in result["msg"] and "put back" in result["msg"]
    assert len(restore_call(calls)) == 1 and len(scripts(calls, "rm -rf --")) == 1


@pytest.mark.parametrize(
    ("error", "args", "backup_type"),
    [
        (
            ("err", "ERROR: Failure copying base backup: data transfer failure"),
            {"remote_ssh_command": SSH},
            "incremental",
        ),
        (
            (
                "err",
                "EXCEPTION: [Errno 2] No such file or directory: '/var/lib/barman/node1/base/x/backup.info'",
            ),
            {"remote_ssh_command": SSH},
            "incremental",
        ),
        # The race needs pg_combinebackup's handler (incremental) and rsync's workers (remote).
        (LOST, {"remote_ssh_command": SSH}, "full"),
        (LOST, {}, "incremental"),
        # Not inspected: what is in the destination may not be the failed run's.
        (LOST, {"remote_ssh_command": SSH, "check_destination": False}, "incremental"),
    ],
)
def test_other_failures_are_not_run_again(run_module, error, args, backup_type):
    remote = "remote_ssh_command" in args
    calls = runner("empty", remote=remote, restore_errors=[error], backup_type=backup_type)
    result, failed = run_module(barman_restore.main, dict(BASE, **args), calls)
    assert failed and "retried" not in result
    assert len(restore_call(calls)) == 1
    assert not [c for c in calls.calls if "-delete" in " ".join(c)]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"target_name": "before_upgrade"}, ""),
        ({"target_name": "pre-2026.12.07+00:00"}, ""),
        ({"target_name": "x'; DROP"}, 'target_name="x\'; DROP" is refused'),
        ({"target_name": "one\ntwo"}, "is refused: a restore point name here is 1 to 63"),
        ({"target_name": "n" * 64}, "is refused"),
        ({"target_xid": "7a"}, "is not a transaction id"),
        ({"target_time": "2026-11-25 18:00:00"}, "has no UTC offset"),
        ({"target_xid": "7", "target_name": "p"}, "give at most one recovery target"),
        ({"target_xid": "", "target_name": "", "target_immediate": False}, ""),
    ],
)
def test_the_filter_checks_the_target_as_the_module_does(params, problem):
    from ansible_collections.otus.pgrepl.plugins.filter.restore import FilterModule  # noqa: PLC0415

    found = FilterModule().filters()["restore_target_problem"](params)
    assert (found == "") if not problem else (problem in found)
