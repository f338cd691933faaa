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

import shlex

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as PodmanConnection,
)


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

    def exec_command(self, cmd, in_data=None, sudoable=False):
        if in_data is None:
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        # ConnectionBase.exec_command only logs; the parent's would drop -i.
        args = ["exec", "-i"]
        if self.user:
            args += ["--user", self.user]
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
