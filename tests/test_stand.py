"""Helpers of the local stand: recap parsing, generated secrets, teardown by label."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tools import stand

RECAP = """
PLAY RECAP *********************************************************************
barman                     : ok=40   changed=0    unreachable=0    failed=0 skipped=1
node1                      : ok=59   changed=2    unreachable=0    failed=0 skipped=2
node2                      : ok=50   changed=1    unreachable=0    failed=1 skipped=2
"""


def test_parse_recap_counts_changes_per_host():
    recap = stand.parse_recap(RECAP)
    assert recap["node1"] == {"ok": 59, "changed": 2, "unreachable": 0, "failed": 0}
    assert recap["node2"]["failed"] == 1
    run = stand.PlaybookRun("site.yml", 2, 1.0, recap)
    assert run.changed == 3


def _timed(text: str, start: float = 100.0) -> list[tuple[float, str]]:
    return [(start + i, line) for i, line in enumerate(text.splitlines(keepends=True))]


SITE_THEN_VERIFY = (
    "PLAY [Check the inventory] ***\nok: [node1]\n"
    + RECAP
    + "TASKS RECAP ***\nPLAY [At most one primary runs] ***\nok: [node1]\n"
    # ansible-playbook's recap counts from its start: verify adds 4 oks on node1, one change on node2.
    + RECAP.replace("ok=59", "ok=63").replace("changed=1", "changed=2")
)


def test_one_ansible_playbook_is_cut_into_a_run_per_playbook():
    timed = _timed(SITE_THEN_VERIFY)
    runs = stand.split_runs(["site.yml", "verify.yml"], timed, 2, 90.0, 200.0)
    assert [r.playbook for r in runs] == ["site.yml", "verify.yml"]
    site, verify = runs
    # The site's changes stay the site's; the return code is the last playbook's.
    assert (site.changed, site.rc) == (3, 0) and (verify.changed, verify.rc) == (1, 2)
    assert verify.recap["node1"] == {"ok": 4, "changed": 0, "unreachable": 0, "failed": 0}
    assert site.output.startswith("PLAY [Check") and "TASKS RECAP" in site.output
    assert verify.output.startswith("PLAY [At most one primary")
    # Start-up counts to the first playbook; together they add up to the whole run.
    verify_starts = next(t for t, line in timed if line.startswith("PLAY [At most"))
    assert site.seconds == verify_starts - 90.0 and site.seconds + verify.seconds == 110.0


def test_a_first_playbook_that_fails_is_the_only_run():
    runs = stand.split_runs(["site.yml", "verify.yml"], _timed("PLAY [Check] ***\n" + RECAP), 2, 0.0, 5.0)
    assert [(r.playbook, r.rc, r.seconds) for r in runs] == [("site.yml", 2, 5.0)]


def test_secrets_are_generated_once_private_and_complete(tmp_path: Path):
    path = tmp_path / ".secrets.yml"
    stand.ensure_secrets(path)
    first = yaml.safe_load(path.read_text())
    assert set(first) == set(stand.PASSWORD_VARS)
    assert all(len(v) >= 24 for v in first.values())
    assert len(set(first.values())) == len(first)
    assert path.stat().st_mode & 0o777 == 0o600
    stand.ensure_secrets(path)
    assert yaml.safe_load(path.read_text()) == first


def test_secrets_keep_what_the_user_set(tmp_path: Path):
    path = tmp_path / ".secrets.yml"
    path.write_text("postgresql_replication_password: mine\n")
    stand.ensure_secrets(path)
    data = yaml.safe_load(path.read_text())
    assert data["postgresql_replication_password"] == "mine"
    assert data["postgresql_barman_password"]


def test_down_removes_only_the_stand(monkeypatch):
    calls = []

    def fake(argv):
        argv = list(argv)
        calls.append(argv)
        if argv[:2] == ["podman", "ps"]:
            assert f"label={stand.STAND_LABEL}" in argv
            return subprocess.CompletedProcess(argv, 0, "pgrepl-node1\npgrepl-barman\n", "")
        if argv[:3] == ["podman", "network", "exists"]:
            return subprocess.CompletedProcess(argv, 0, "", "")
        return subprocess.CompletedProcess(argv, 0, "", "")

    names, network = stand.down(fake)
    assert names == ["pgrepl-node1", "pgrepl-barman"]
    assert network is True
    assert ["podman", "rm", "-f", "-t", "0", "pgrepl-node1", "pgrepl-barman"] in calls
    assert ["podman", "network", "rm", "-f", stand.STAND_NETWORK] in calls


def test_inventory_hosts_and_containers():
    assert stand.hosts() == ["node1", "node2", "barman", "scratch"]
    assert stand.container("node2") == "pgrepl-node2"
    assert "invoke stand.down" in stand.how_to_reach()


def test_restore_args_carry_one_target_as_json():
    target = {"time": "2026-11-25 18:00:00+00", "lsn": ""}
    (flag, value) = stand.restore_args(target, action="pause", force=True)
    assert flag == "-e"
    extra = json.loads(value)
    assert extra["barman_restore_target_time"] == "2026-11-25 18:00:00+00"
    assert extra["barman_restore_target_action"] == "pause"
    assert extra["barman_restore_force"] is True
    assert "barman_restore_target_lsn" not in extra and "restore_hosts" not in extra


def test_restore_args_name_the_host_when_given():
    extra = json.loads(stand.restore_args({}, immediate=True, host="barman")[1])
    assert extra["restore_hosts"] == "barman"
    assert extra["barman_restore_target_immediate"] is True


@pytest.mark.parametrize(
    ("target", "immediate", "action", "message"),
    [
        ({"time": "2026-11-25 18:00:00+00", "lsn": "0/1"}, False, "promote", "at most one"),
        ({"xid": "7"}, True, "promote", "at most one"),
        ({}, False, "stop", "--action"),
    ],
)
def test_restore_args_refuse_bad_requests(target, immediate, action, message):
    with pytest.raises(ValueError, match=message):
        stand.restore_args(target, immediate=immediate, action=action)


def test_the_tls_ca_path_is_the_collections():
    vars_file = stand.PLAYBOOKS.parent / "roles" / "postgresql" / "vars" / "main.yml"
    values = yaml.safe_load(vars_file.read_text())
    tls_dir = values["postgresql__tls_dir"]
    ca_file = values["postgresql__tls_ca_file"].replace("{{ postgresql__tls_dir }}", tls_dir)
    assert ca_file == stand.TLS_CA_FILE


FAILED_SITE = (
    """PLAY [Set up] ***
TASK [otus.pgrepl.postgresql : Check the settings] ***
ok: [node1]
TASK [otus.pgrepl.postgresql : Start the cluster] ***
fatal: [node1]: FAILED! => {"msg": "could not start"}
fatal: [node2]: UNREACHABLE! => {"msg": "its init process is gone"}
TASK [otus.pgrepl.barman : Check] ***
ok: [barman]
"""
    + RECAP
)


def test_a_quiet_failure_names_the_failed_tasks_and_a_streamed_one_points_up():
    runs = [stand.PlaybookRun("/x/site.yml", 2, 3.0, {}, FAILED_SITE)]
    quiet = stand.failure(runs, streamed=False)
    assert quiet is not None and quiet.splitlines() == [
        "site.yml failed (rc=2):",
        "TASK [otus.pgrepl.postgresql : Start the cluster]",
        'fatal: [node1]: FAILED! => {"msg": "could not start"}',
        'fatal: [node2]: UNREACHABLE! => {"msg": "its init process is gone"}',
    ]
    assert stand.failure(runs, streamed=True) == "site.yml failed (rc=2); see the output above"
    assert stand.failure([stand.PlaybookRun("site.yml", 0, 1.0)], streamed=False) is None
