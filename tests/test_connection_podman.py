"""The stand's podman connection: a stopped or missing container is unreachable."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.otus.pgrepl.plugins.connection import podman

# What podman 5 prints (seen on this machine's podman for each case).
STOPPED = b"Error: can only create exec sessions on running containers: container state improper\n"
MISSING = b'Error: no container with name or ID "node9" found: no such container\n'
CP_MISSING = b'Error: container "node9" does not exist\n'


@pytest.mark.parametrize(
    ("rc", "stderr", "down"),
    [
        (255, STOPPED, True),
        (125, MISSING, True),
        (125, CP_MISSING, True),
        (1, b"psql: error: connection refused\n", False),  # the command's own failure
        (255, b"ssh: no such container mentioned in output\n", False),  # not podman's error line
        (0, STOPPED, False),
    ],
)
def test_host_down(rc, stderr, down):
    assert podman.host_down(rc, stderr) is down


def test_a_stopped_container_raises_unreachable(monkeypatch):
    monkeypatch.setattr(podman.PodmanConnection, "_podman", lambda self, *a, **k: (255, b"", STOPPED))
    conn = podman.Connection.__new__(podman.Connection)
    conn._container_id = "node2"
    with pytest.raises(AnsibleConnectionFailure, match="container node2 is not running"):
        conn._podman(["exec", "-i"], ["/usr/bin/python3"], b"")


def test_a_failing_command_is_returned(monkeypatch):
    monkeypatch.setattr(podman.PodmanConnection, "_podman", lambda self, *a, **k: (2, b"out", b"err"))
    conn = podman.Connection.__new__(podman.Connection)
    conn._container_id = "node2"
    assert conn._podman(["exec"], ["false"]) == (2, b"out", b"err")
