"""The invoke tasks stop with a helpful message when a prerequisite is missing."""

from __future__ import annotations

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

import tasks
from tasks import machine, stand
from tools import localhosts as lh
from tools import stand as st


def test_prepare_without_root_says_what_to_run(monkeypatch):
    monkeypatch.setattr(lh.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(lh, "is_root", lambda: False)
    with pytest.raises(Exit) as err:
        machine.prepare(Context())
    message = str(err.value.message)
    assert "sudo invoke machine.prepare" in message
    assert "apt-get install -y podman runc debootstrap" in message
    assert err.value.code == 2


def test_prepare_without_apt_lists_the_packages(monkeypatch):
    monkeypatch.setattr(lh.shutil, "which", lambda name: None)
    with pytest.raises(Exit) as err:
        machine.prepare(Context())
    assert "No apt-get" in str(err.value.message)
    assert "debootstrap" in str(err.value.message)


def test_build_without_podman_says_to_prepare(monkeypatch):
    monkeypatch.setattr(lh.shutil, "which", lambda name: None)
    with pytest.raises(Exit) as err:
        machine.build(Context())
    assert "invoke machine.prepare" in str(err.value.message)


def test_an_unknown_host_is_refused_with_the_stand_s_hosts(monkeypatch):
    monkeypatch.setattr(st, "hosts", lambda: ["node1", "node2", "barman"])
    with pytest.raises(Exit) as err:
        stand.switchover(Context(), to="node9")
    assert "no host 'node9' in the stand; hosts: node1, node2, barman" in str(err.value.message)
    assert err.value.code == 2


def test_a_failed_playbook_exits_with_what_failed(monkeypatch):
    ran = []

    def fake_run(playbook, *extra, **_):
        ran.append((playbook.name, extra))
        return st.PlaybookRun(str(playbook), 2, 1.0)

    monkeypatch.setattr(st, "run_playbook", fake_run)
    with pytest.raises(Exit) as err:
        stand.backup(Context(), server="node1", incremental=True)
    assert ran == [("backup.yml", ("-e", "barman_server=node1", "-e", "backup_incremental=true"))]
    assert str(err.value.message) == "the backup did not reach DONE: see the output above"
    assert err.value.code == 1


def test_every_task_has_help():
    for name in tasks.ns.task_names:
        task = tasks.ns[name]
        assert task.__doc__ and task.__doc__.strip(), f"task {name} has no docstring"
