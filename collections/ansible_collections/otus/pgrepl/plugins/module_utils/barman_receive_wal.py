# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Barman's receive-wal for one server, as a barman_slot run sees and drives it: the slot and receive-wal
state read from barman, the commands that start, stop, wait for and retry it, and the module result they
fill in (the other barman_slot pieces work through one such object)."""

from __future__ import annotations

import shlex
import time

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import (
    BarmanCli,
    describe_checks,
    parse_slot_record,
)

# The lines of barman check that say why WAL does not stream.
STREAMING_CHECKS = ("replication_slot", "receive_wal_running", "postgresql_streaming", "systemid_coherence")


class ReceiveWal:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.cli = BarmanCli(module, user=self.p["barman_user"], config=self.p["barman_config"])
        # The last barman check: the diagnosis reads systemid_coherence from it.
        self.checks = {}
        self.result = {
            "changed": False,
            "created": False,
            "dropped": False,
            "slot": None,
            "receive_wal_running": False,
            "commands": self.cli.commands,
            "reset": False,
            "divergence": None,
            "wal_gap": None,
            "gap_report": None,
            "checks": {},
        }

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def read(self):
        """(server settings, slot, receive-wal running, checks)."""
        server = self.cli.server(self.p["server"])
        checks = self.cli.check(self.p["server"])
        self.checks = checks
        self.result["checks"] = checks
        slot = parse_slot_record(server.get("replication_slot"))
        running = checks.get("receive_wal_running", {}).get("status") == "OK"
        return server, slot, running, checks

    def record(self, argv):
        self.cli.commands.append(shlex.join(argv))

    def would(self, *args):
        self.record(self.cli.argv(*args))
        self.result["changed"] = True

    def start(self):
        """Run start_command; the problem in words when it fails, else None."""
        argv = list(self.p["start_command"])
        if argv[:1] == ["barman"]:
            argv = self.cli.argv(*argv[1:])
        self.record(argv)
        self.result["changed"] = True
        if self.module.check_mode:
            return None
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            return f"could not start receive-wal with {' '.join(argv)}: {(err or out).strip()}"
        return None

    def stop(self):
        """Stop receive-wal: stop_command first (a unit that would restart it), then barman's own --stop."""
        name = self.p["server"]
        self.result["changed"] = True
        if self.p["stop_command"]:
            argv = list(self.p["stop_command"])
            self.record(argv)
            if not self.module.check_mode:
                rc, out, err = self.module.run_command(argv)
                if rc != 0:
                    self.fail(
                        f"could not stop receive-wal of '{name}' with {' '.join(argv)}: "
                        f"{(err or out).strip()}"
                    )
        # Also one that barman cron started outside any unit; none running is what we want.
        if self.module.check_mode:
            self.would("receive-wal", "--stop", name)
            return
        rc, out, err = self.cli.run("receive-wal", "--stop", name)
        if rc != 0 and "no such process" not in (out + err).lower():
            self.fail(f"barman could not stop receive-wal of '{name}' (rc={rc}): {(err or out).strip()}")

    def wait_streaming(self):
        """Wait until the slot is active and receive-wal runs; the problem in words on timeout, else None."""
        name = self.p["server"]
        deadline = time.monotonic() + self.p["wait_timeout"]
        while True:
            dummy, slot, running, checks = self.read()
            self.result.update(slot=slot, receive_wal_running=running)
            if slot and slot["active"] and running:
                return None
            if time.monotonic() >= deadline:
                return (
                    f"the slot of '{name}' did not become active within {self.p['wait_timeout']}s "
                    f"(slot: {slot}; receive-wal running: {running}); barman check says: "
                    + describe_checks({k: v for k, v in checks.items() if k in STREAMING_CHECKS})
                )
            time.sleep(1)

    def retry(self, *args, record=True, busy=None):
        """Run a barman command until it succeeds or wait_timeout passes: (rc, out, err) of the last run.

        A receive-wal that was just stopped may hold the slot a moment longer. busy: the only error text
        worth another try (None: any error).
        """
        deadline = time.monotonic() + self.p["wait_timeout"]
        while True:
            rc, out, err = self.cli.run(*args, record=record)
            if rc == 0 or (busy is not None and busy not in out + err) or time.monotonic() >= deadline:
                return rc, out, err
            time.sleep(1)
