# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""A cluster that already holds this system's data made a standby of the primary without a new
clone, for pg_standby_clone's ``rejoin``: a running standby is re-pointed with a reload, anything else
(or a re-pointed standby that does not stream) is rewound with pg_rewind. A failed rewind clones again
only with ``force``: otherwise the data stays as it was.
"""

from __future__ import annotations

import os
import time

from ansible_collections.otus.pgrepl.plugins.module_utils.pg_clone import inspect_data_dir


class StandbyRejoin:
    def __init__(self, host, link, cloner):
        self.host = host
        self.link = link
        self.cloner = cloner
        self.p = host.p

    def rewind_argv(self):
        # pg_rewind reads files through SQL functions, so it connects to a database, not for replication.
        source = self.link.connection({"dbname": "postgres"})
        return [
            os.path.join(self.host.bin_dir, "pg_rewind"),
            "--target-pgdata",
            self.p["data_dir"],
            "--source-server",
            source,
            "--progress",
        ] + (["--config-file", self.host.config_file] if os.path.isfile(self.host.config_file) else [])

    def repoint(self):
        """A running standby of another source follows primary_host after a reload; True when it streams."""
        host = self.host
        host.result.update(changed=True, repointed=True)
        if host.module.check_mode:
            host.commands.append(
                f"set primary_conninfo and primary_slot_name; systemctl reload {host.service}"
            )
            return True
        self.link.ensure_passfile()
        self.link.write_standby_settings()
        host.run(["systemctl", "reload", host.service])
        if self.p["wait_timeout"] <= 0:
            return True
        deadline = time.monotonic() + self.p["wait_timeout"]
        while time.monotonic() < deadline:
            if host.receiver_status() == "streaming" and host.receiver_source() == self.p["primary_host"]:
                return True
            time.sleep(1)
        return False

    def rewind(self):
        """Stop the cluster, pg_rewind it from primary_host, make it a standby and start it."""
        host, p = self.host, self.p
        argv = host.as_owner(self.rewind_argv())
        host.result.update(changed=True, rewound=True)
        if host.module.check_mode:
            host.commands.append(f"systemctl stop {host.service}")
            host.show(argv)
            if p["start"]:
                host.commands.append(f"systemctl start {host.service}")
            return
        self.link.ensure_passfile()
        if host.is_active():
            host.stop()
        rc, out, err = host.run(argv, environ_update={"PGPASSFILE": host.passfile})
        if rc != 0:
            if p["force"]:
                host.result["rewound"] = False
                host.commands.append(f"pg_rewind failed (rc={rc}): clone again (force=true)")
                self.cloner.clone(inspect_data_dir(p["data_dir"]))
                return
            host.fail(
                f"pg_rewind from {p['primary_host']} failed (rc={rc}); the cluster in {p['data_dir']} "
                f"is stopped and was not otherwise changed: {(err or out).strip()[-600:]}. "
                "Set force=true to clone it again instead (its contents are replaced).",
                stderr=err,
                rc=rc,
            )
        # pg_rewind copied the source's postgresql.auto.conf: point it back at the primary, as a standby.
        self.link.write_standby_settings()
        if p["start"]:
            host.start()

    def rejoin(self, state):
        if state["standby_signal"] and self.host.is_active():
            if self.repoint():
                return
            self.host.commands.append("not streaming after the reload: rewind")
        self.rewind()
