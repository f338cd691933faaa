"""tasks.py stops with a helpful message when a prerequisite is missing."""

from __future__ import annotations

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

import tasks
from tools import localhosts as lh


def test_prepare_without_root_says_what_to_run(monkeypatch):
    monkeypatch.setattr(tasks.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(lh, "is_root", lambda: False)
    with pytest.raises(Exit) as err:
        tasks.prepare(Context())
    message = str(err.value.message)
    assert "sudo invoke machine.prepare" in message
    assert "apt-get install -y podman runc debootstrap" in message
    assert err.value.code == 2


def test_prepare_without_apt_lists_the_packages(monkeypatch):
    monkeypatch.setattr(tasks.shutil, "which", lambda name: None)
    with pytest.raises(Exit) as err:
        tasks.prepare(Context())
    assert "No apt-get" in str(err.value.message)
    assert "debootstrap" in str(err.value.message)


def test_build_without_podman_says_to_prepare(monkeypatch):
    monkeypatch.setattr(lh.shutil, "which", lambda name: None)
    with pytest.raises(Exit) as err:
        tasks.build(Context())
    assert "invoke machine.prepare" in str(err.value.message)


def test_every_task_has_help():
    for name in tasks.ns.task_names:
        task = tasks.ns[name]
        assert task.__doc__ and task.__doc__.strip(), f"task {name} has no docstring"
