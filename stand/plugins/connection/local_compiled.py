# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""The local connection, with the modules' compiled code kept (for the repository's own tests).

Not part of the collection. The preflight tests run the roles' checks against
hosts on the controller; this is Ansible's local connection plus the
compiled-code cache of podman_nsenter, so that each test's modules are not
compiled again on every task.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: local_compiled
short_description: Run tasks on the controller, keeping the modules' compiled code
description:
  - Ansible's C(local) connection, with the compiled-code cache of the stand's C(podman_nsenter)
    connection (a prelude sent with each pipelined module).
  - For this repository's tests only.
options:
  become_success_timeout:
    description: Seconds to wait for become to succeed (as for C(local)).
    type: int
    default: 10
    vars:
      - name: ansible_local_become_success_timeout
  become_strip_preamble:
    description: Strip the output become prints before the command (as for C(local)).
    type: bool
    default: true
    vars:
      - name: ansible_local_become_strip_preamble
  pipelining:
    description: Pipe modules to Python instead of copying them (as for C(local)).
    type: bool
    default: true
    vars:
      - name: ansible_pipelining
    env:
      - name: ANSIBLE_PIPELINING
    ini:
      - section: connection
        key: pipelining
"""

import importlib.util
import os

from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.connection.local import Connection as LocalConnection

_HERE = os.path.dirname(os.path.abspath(__file__))
_SPEC = importlib.util.spec_from_file_location("otus_nsenter", os.path.join(_HERE, "podman_nsenter.py"))
_NSENTER = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_NSENTER)


class Connection(LocalConnection):
    transport = "local_compiled"

    def exec_command(self, cmd, in_data=None, sudoable=True):
        if in_data is not None:
            in_data = _NSENTER.with_bytecode_cache(to_bytes(in_data, errors="surrogate_or_strict"))
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
