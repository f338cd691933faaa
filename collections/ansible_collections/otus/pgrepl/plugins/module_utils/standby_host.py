# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""The standby's own cluster, as pg_standby_clone handles it: where it lives and who owns it, its
systemd service, queries to it, and every command run on this host.

The clone, rejoin and primary-link pieces all act through one StandbyHost, so they append to the
same ``commands`` list and fill the same ``result`` that the module returns.
"""

from __future__ import annotations

import os
import pwd
import shlex

from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import debian_layout


class StandbyHost:
    def __init__(self, module):
        self.module = module
        p = module.params
        self.p = p
        self.version = p["version"]
        layout = debian_layout(self.version, p["cluster"], p["data_root"])
        self.bin_dir = p["bin_dir"] or layout["bin_dir"]
        self.service = p["service"] or layout["service"]
        self.log_file = p["log_file"] or layout["log_file"]
        self.application_name = p["application_name"] or p["slot_name"]
        self.config_file = p["config_file"] or layout["config_file"]
        try:
            self.owner = pwd.getpwnam(p["owner"])
        except KeyError:
            module.fail_json(msg=f"owner={p['owner']}: no such user on this host; install PostgreSQL first")
        self.passfile = p["passfile"] or os.path.join(self.owner.pw_dir, ".pgpass")
        self.commands = []
        self.result = {
            "changed": False,
            "cloned": False,
            "rewound": False,
            "repointed": False,
            "started": False,
            "commands": self.commands,
            "receiver_status": None,
            "primary_conninfo": None,
            "slot_name": p["slot_name"],
        }

    def fail(self, msg, **extra):
        # Every failure carries what was done so far, so the user sees which commands ran.
        self.module.fail_json(msg=msg, **extra, **self.result)

    def as_owner(self, argv):
        if os.geteuid() == 0 and self.owner.pw_uid != 0:
            return ["runuser", "-u", self.owner.pw_name, "--", *argv]
        return list(argv)

    def show(self, argv):
        """Record argv in ``commands`` as a shell line (what check mode would run)."""
        self.commands.append(" ".join(shlex.quote(a) for a in argv))

    def run(self, argv, record=True, **kwargs):
        if record:
            self.show(argv)
        return self.module.run_command(argv, **kwargs)

    def is_active(self):
        rc, out, dummy = self.run(["systemctl", "is-active", self.service], record=False)
        return rc == 0 and out.strip() == "active"

    def start(self):
        rc, out, err = self.run(["systemctl", "start", self.service])
        if rc != 0:
            self.fail(f"could not start {self.service}: {(err or out).strip()}; {self.last_errors()}")
        self.result["started"] = True
        self.result["changed"] = True

    def stop(self):
        rc, out, err = self.run(["systemctl", "stop", self.service])
        if rc != 0:
            self.fail(f"could not stop {self.service}: {(err or out).strip()}")

    def psql(self, connection, sql):
        """psql as the owner, unaligned tuples only: connection is its -h/-p/-d arguments."""
        return self.as_owner(
            [os.path.join(self.bin_dir, "psql"), "-X", "-A", "-t", "-q", *connection, "-c", sql]
        )

    def local_query(self, sql):
        """One value from the local cluster (None when it does not answer)."""
        local = ["-h", self.p["socket_dir"], "-p", str(self.p["port"]), "-d", "postgres"]
        rc, out, dummy = self.run(self.psql(local, sql), record=False)
        return out.strip() if rc == 0 else None

    def receiver_status(self):
        return self.local_query("SELECT status FROM pg_stat_wal_receiver")

    def receiver_source(self):
        return self.local_query("SELECT sender_host FROM pg_stat_wal_receiver")

    def last_errors(self, lines=5):
        if not os.path.isfile(self.log_file):
            return f"no server log at {self.log_file}"
        with open(self.log_file, errors="replace") as handle:
            tail = handle.readlines()[-200:]
        picked = [line.strip() for line in tail if "FATAL" in line or "ERROR" in line]
        if not picked:
            return f"no error in the last lines of {self.log_file}"
        return "last errors in the server log: " + " | ".join(picked[-lines:])
