# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: podman
short_description: Run tasks in podman containers, with pipelining
version_added: 0.1.0
author: otus.pgrepl developers (!UNKNOWN)
description:
  - The C(containers.podman.podman) connection with pipelining. A module is sent to the container's
    Python through C(podman exec -i) instead of being copied in and run in several steps, which makes
    a task several times cheaper. The local stand's hosts (C(invoke stand.up)) use it.
  - Files (M(ansible.builtin.template), M(ansible.builtin.copy)) are still copied with C(podman cp).
  - A container that is stopped or missing is I(unreachable), as an SSH host that is down, not a
    task failure; playbooks then treat both alike.
  - Everything else behaves as C(containers.podman.podman).
options:
  remote_addr:
    description: Name or ID of the container.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_podman_host
  remote_user:
    description: User to run as inside the container (the container's default when unset).
    vars:
      - name: ansible_user
    env:
      - name: ANSIBLE_REMOTE_USER
    ini:
      - section: defaults
        key: remote_user
    keyword:
      - name: remote_user
  podman_executable:
    description: The podman command.
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
  podman_extra_args:
    description: Extra arguments for every podman call.
    default: ""
    vars:
      - name: ansible_podman_extra_args
    env:
      - name: ANSIBLE_PODMAN_EXTRA_ARGS
"""

import re
import shlex

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as PodmanConnection,
)

# podman's own errors (exit code 125, or 255 for `exec` on a stopped container
# with podman 4/5) that mean the container is not running: for Ansible that
# host is down. Anything else stays the command's own result.
PODMAN_ERRORS = (125, 255)
HOST_DOWN = re.compile(
    r"^Error: .*(can only create exec sessions on running containers|no such container"
    r"|container state improper|does not exist)",
    re.IGNORECASE | re.MULTILINE,
)


def host_down(rc, stderr):
    """Whether a podman call failed because the container is stopped or missing."""
    return rc in PODMAN_ERRORS and HOST_DOWN.search(to_text(stderr, errors="surrogate_or_strict")) is not None


class Connection(PodmanConnection):
    transport = "otus.pgrepl.podman"
    # podman exec -i forwards stdin, which is all pipelining needs.
    has_pipelining = True

    def _connect(self):
        # Skip `podman mount`: with pipelining nothing reads the container's
        # filesystem from the host, and files go through `podman cp`.
        self._connected = True
        self._mount_point = None
        return self

    def _podman(self, cmd, cmd_args=None, in_data=None, use_container_id=True):
        rc, stdout, stderr = super()._podman(cmd, cmd_args, in_data, use_container_id)
        if host_down(rc, stderr):
            raise AnsibleConnectionFailure(
                "container %s is not running: %s" % (self._container_id, to_text(stderr).strip())
            )
        return rc, stdout, stderr

    def exec_command(self, cmd, in_data=None, sudoable=False):
        if in_data is None:
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        # ConnectionBase.exec_command only logs; the parent's would drop -i.
        args = ["exec", "-i"]
        if self.user:
            args += ["--user", self.user]
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
