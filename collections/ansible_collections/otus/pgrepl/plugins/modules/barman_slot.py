#!/usr/bin/python
# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
module: barman_slot
short_description: Make sure a Barman server's replication slot exists and its WAL streams
version_added: 0.1.0
author: otus.pgrepl developers (!UNKNOWN)
description:
  - Runs on the Barman host. With O(state=present) it creates the physical replication slot that
    Barman's C(slot_name) setting names on the PostgreSQL server (C(barman receive-wal --create-slot)),
    once, and makes sure C(receive-wal) runs (started through O(start_command), by default
    C(barman cron)); with O(wait=true) it waits until the slot is active.
  - A second run with the slot there and C(receive-wal) running changes nothing.
  - With O(state=absent) it stops C(receive-wal) (C(barman receive-wal --stop)) and then drops the slot
    (C(barman receive-wal --drop-slot)).
  - Reads the state with C(barman -f json show-servers) and C(barman -f json check); every barman command
    runs as O(barman_user).
options:
  server:
    description: Name of the server in Barman's configuration (the section name in C(/etc/barman.d)).
    type: str
    required: true
  slot_name:
    description:
      - The slot the server's Barman configuration must name. The module fails when C(slot_name) in
        Barman's configuration differs, rather than managing a slot Barman does not use.
      - Leave it out to take whatever Barman's configuration says.
    type: str
  state:
    description: Whether the slot (and the WAL streaming through it) should exist.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: With O(state=present), wait until the slot is active and C(receive-wal) runs.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait when O(wait=true).
    type: int
    default: 120
  start_command:
    description:
      - Command that starts C(receive-wal) when it is not running. C(barman cron) starts it; a systemd
        service that runs C(barman cron) keeps it in that service.
    type: list
    elements: str
    default: [barman, cron]
extends_documentation_fragment:
  - otus.pgrepl.barman
attributes:
  check_mode:
    support: full
    description: Reads the state (read-only barman commands) and reports what it would do.
  diff_mode:
    support: none
    description: Reports no diff.
seealso:
  - name: barman receive-wal
    description: Barman's command that runs pg_receivewal for a server.
    link: https://docs.pgbarman.org/release/latest/user_guide/commands.html
  - module: otus.pgrepl.pg_standby_clone
"""

EXAMPLES = r"""
- name: Stream node1's WAL to Barman through slot "barman"
  otus.pgrepl.barman_slot:
    server: node1
    slot_name: barman
    start_command: [systemctl, start, otus-barman-cron.service]
  become: true

- name: Stop streaming and drop the slot (after taking the server out of Barman's schedule)
  otus.pgrepl.barman_slot:
    server: node1
    state: absent
  become: true
"""

RETURN = r"""
slot:
  description: The slot as Barman sees it after the call (C(null) when there is none).
  returned: always
  type: dict
  contains:
    name:
      description: Slot name.
      type: str
      sample: barman
    active:
      description: Whether a WAL receiver is connected through it.
      type: bool
      sample: true
    restart_lsn:
      description: Oldest WAL the slot keeps on the server.
      type: str
      sample: 0/3000000
  sample: {"name": "barman", "active": true, "restart_lsn": "0/3000000"}
receive_wal_running:
  description: Whether Barman's C(receive-wal) process runs for the server.
  returned: always
  type: bool
  sample: true
created:
  description: Whether the slot was created (or would be, in check mode).
  returned: always
  type: bool
dropped:
  description: Whether the slot was dropped (or would be, in check mode).
  returned: always
  type: bool
commands:
  description: The barman commands that changed something (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["runuser -u barman -- barman receive-wal --create-slot node1", "runuser -u barman -- barman cron"]
"""

import shlex
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import (
    BARMAN_ARGUMENT_SPEC,
    BarmanCli,
    BarmanError,
    describe_checks,
    parse_slot_record,
)
from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import is_valid_slot_name


class SlotManager:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.cli = BarmanCli(module, user=self.p["barman_user"], config=self.p["barman_config"])
        self.result = {
            "changed": False,
            "created": False,
            "dropped": False,
            "slot": None,
            "receive_wal_running": False,
            "commands": self.cli.commands,
        }

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def read(self):
        """(server settings, slot, receive-wal running, checks)."""
        server = self.cli.server(self.p["server"])
        checks = self.cli.check(self.p["server"])
        slot = parse_slot_record(server.get("replication_slot"))
        running = checks.get("receive_wal_running", {}).get("status") == "OK"
        return server, slot, running, checks

    def would(self, *args):
        self.cli.commands.append(" ".join(shlex.quote(a) for a in self.cli.argv(*args)))
        self.result["changed"] = True

    def start_receive_wal(self):
        argv = list(self.p["start_command"])
        if argv[:1] == ["barman"]:
            argv = self.cli.argv(*argv[1:])
        self.cli.commands.append(" ".join(shlex.quote(a) for a in argv))
        self.result["changed"] = True
        if self.module.check_mode:
            return
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            self.fail(f"could not start receive-wal with {' '.join(argv)}: {(err or out).strip()}")

    def present(self, server, slot, running, checks):
        name = self.p["server"]
        if server.get("connection_error"):
            self.fail(
                f"Barman cannot reach the PostgreSQL server of '{name}': {server['connection_error']}. "
                "Check the host and port in its conninfo, pg_hba on the server, and the barman passfile."
            )
        if not server.get("streaming_archiver"):
            self.fail(
                f"server '{name}' has streaming_archiver off in Barman's configuration: turn it on to stream WAL"
            )
        if slot is None:
            if self.module.check_mode:
                self.would("receive-wal", "--create-slot", name)
            else:
                rc, out, err = self.cli.run("receive-wal", "--create-slot", name)
                text = (out + err).strip()
                if rc != 0 and "already exists" not in text:
                    self.fail(f"barman could not create the slot of '{name}' (rc={rc}): {text}")
                self.result["changed"] = True
            self.result["created"] = True
        if not running:
            self.start_receive_wal()
        if self.module.check_mode or not self.p["wait"]:
            self.result["slot"] = slot
            self.result["receive_wal_running"] = running
            return
        deadline = time.monotonic() + self.p["wait_timeout"]
        while True:
            server, slot, running, checks = self.read()
            if slot and slot["active"] and running:
                break
            if time.monotonic() >= deadline:
                self.result.update(slot=slot, receive_wal_running=running)
                self.fail(
                    f"the slot of '{name}' did not become active within {self.p['wait_timeout']}s "
                    f"(slot: {slot}; receive-wal running: {running}); barman check says: "
                    + describe_checks(
                        {
                            k: v
                            for k, v in checks.items()
                            if k in ("replication_slot", "receive_wal_running", "postgresql_streaming")
                        }
                    )
                )
            time.sleep(1)
        self.result.update(slot=slot, receive_wal_running=running)

    def absent(self, server, slot, running):
        name = self.p["server"]
        if server.get("streaming_archiver"):
            self.module.warn(
                f"server '{name}' still has streaming_archiver on: barman cron will try to start receive-wal again"
            )
        if running:
            if self.module.check_mode:
                self.would("receive-wal", "--stop", name)
            else:
                rc, out, err = self.cli.run("receive-wal", "--stop", name)
                if rc != 0:
                    self.fail(
                        f"barman could not stop receive-wal of '{name}' (rc={rc}): {(err or out).strip()}"
                    )
                self.result["changed"] = True
        if slot is not None:
            if self.module.check_mode:
                self.would("receive-wal", "--drop-slot", name)
            else:
                # receive-wal may take a moment to let go of the slot.
                deadline = time.monotonic() + self.p["wait_timeout"]
                while True:
                    rc, out, err = self.cli.run("receive-wal", "--drop-slot", name)
                    if rc == 0:
                        break
                    if time.monotonic() >= deadline:
                        self.fail(
                            f"barman could not drop the slot of '{name}' (rc={rc}): {(err or out).strip()}"
                        )
                    time.sleep(1)
                self.result["changed"] = True
            self.result["dropped"] = True
        if not self.module.check_mode:
            dummy, slot, running, dummy2 = self.read()
        else:
            slot, running = None, False
        self.result.update(slot=slot, receive_wal_running=running)

    def __call__(self):
        try:
            server, slot, running, checks = self.read()
        except BarmanError as exc:
            self.fail(f"server '{self.p['server']}': {exc}")
        configured = server.get("slot_name")
        if self.p["slot_name"] and configured != self.p["slot_name"]:
            self.fail(
                f"Barman's configuration of '{self.p['server']}' names slot_name={configured!r}, "
                f"not {self.p['slot_name']!r}: fix the server's file in Barman's configuration directory"
            )
        if not configured:
            self.fail(f"server '{self.p['server']}' has no slot_name in Barman's configuration")
        if slot is not None and slot["name"] != configured:
            self.fail(
                f"barman reports slot {slot['name']!r} for '{self.p['server']}', expected {configured!r}"
            )
        try:
            if self.p["state"] == "present":
                self.present(server, slot, running, checks)
            else:
                self.absent(server, slot, running)
        except BarmanError as exc:
            self.fail(f"server '{self.p['server']}': {exc}")
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(
        argument_spec={
            "server": {"type": "str", "required": True},
            "slot_name": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 120},
            "start_command": {"type": "list", "elements": "str", "default": ["barman", "cron"]},
            **BARMAN_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    slot_name = module.params["slot_name"]
    if slot_name is not None and not is_valid_slot_name(slot_name):
        module.fail_json(
            msg=f"slot_name={slot_name!r} is not a valid replication slot name: "
            "use 1 to 63 lower-case letters, digits or underscores"
        )
    if not module.params["start_command"]:
        module.fail_json(msg="start_command must not be empty")
    if module.params["wait_timeout"] < 0:
        module.fail_json(msg="wait_timeout must be 0 or more seconds")
    SlotManager(module)()


if __name__ == "__main__":
    main()
