# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""The standby's link to its primary, as pg_standby_clone sets it up: TLS settings and conninfo, the
passfile, the settings that make the local cluster a standby of the primary, the slot there, and the
wait until the WAL receiver streams.
"""

from __future__ import annotations

import os
import time

from ansible_collections.otus.pgrepl.plugins.module_utils.pg_clone import (
    AUTO_CONF,
    STANDBY_SIGNAL,
    build_conninfo,
    merge_pgpass,
    read_own_file,
    render_auto_conf,
    write_file,
)


class PrimaryLink:
    def __init__(self, host):
        self.host = host
        self.p = host.p

    def tls(self):
        """The TLS settings every connection to the primary carries (libpq's default, prefer, is left out)."""
        p = self.p
        params = {} if p["ssl_mode"] == "prefer" else {"sslmode": p["ssl_mode"]}
        if p["ssl_root_cert"]:
            params["sslrootcert"] = p["ssl_root_cert"]
        return params

    def connection(self, before=None, after=None):
        """A conninfo to the primary: host, port, user, ``before``, passfile, ``after``, TLS.

        The keys keep the order each caller always had, so recorded commands and the written
        primary_conninfo stay byte for byte what earlier releases produced.
        """
        p = self.p
        params = {"host": p["primary_host"], "port": p["primary_port"], "user": p["primary_user"]}
        params.update(before or {})
        params["passfile"] = self.host.passfile
        params.update(after or {})
        params.update(self.tls())
        return build_conninfo(params)

    def conninfo(self):
        """The standby's primary_conninfo."""
        return self.connection(after={"application_name": self.host.application_name})

    def ensure_passfile(self):
        """Write the passfile line; True when the file changed."""
        host, password = self.host, self.p["primary_password"]
        if password is None:
            return False
        existing = read_own_file(host.passfile)
        wanted = merge_pgpass(
            existing, self.p["primary_host"], self.p["primary_port"], self.p["primary_user"], password
        )
        stat = os.stat(host.passfile) if os.path.exists(host.passfile) else None
        right_mode = stat is not None and (stat.st_mode & 0o777) == 0o600 and stat.st_uid == host.owner.pw_uid
        if wanted == existing and right_mode:
            return False
        if not host.module.check_mode:
            write_file(host.passfile, wanted, host.owner.pw_uid, host.owner.pw_gid)
        return True

    def write_standby_settings(self):
        owner = self.host.owner
        auto = os.path.join(self.p["data_dir"], AUTO_CONF)
        original = read_own_file(auto)
        # pg_basebackup -R copies the connection it used, which may carry the
        # password read from the passfile: replace it with our own conninfo.
        text = render_auto_conf(
            original,
            {"primary_conninfo": self.conninfo(), "primary_slot_name": self.p["slot_name"]},
        )
        write_file(auto, text, owner.pw_uid, owner.pw_gid)
        signal = os.path.join(self.p["data_dir"], STANDBY_SIGNAL)
        if not os.path.isfile(signal) or os.path.islink(signal):
            write_file(signal, "", owner.pw_uid, owner.pw_gid)

    def refresh_tls(self):
        """New TLS settings in primary_conninfo; a running standby reconnects after a reload."""
        host = self.host
        host.result["changed"] = True
        running = host.is_active()
        host.commands.append(
            "set primary_conninfo (TLS settings)" + (f"; systemctl reload {host.service}" if running else "")
        )
        if host.module.check_mode:
            return
        self.write_standby_settings()
        if running:
            host.run(["systemctl", "reload", host.service], record=False)

    def read_slot(self):
        """(rc, out, err) of READ_REPLICATION_SLOT for our slot on the primary (out: type|restart_lsn|tli)."""
        conninfo = self.connection({"dbname": "replication", "replication": "true"}, {"connect_timeout": 10})
        sql = f"READ_REPLICATION_SLOT {self.p['slot_name']}"
        return self.host.run(self.host.psql(["-d", conninfo], sql), record=False)

    def lost_slot_hint(self):
        """What to do when the standby does not stream because its slot lost its WAL ('' otherwise).

        A slot invalidated by max_slot_wal_keep_size has no restart_lsn. The
        standby's data is still good: a new slot and the missing WAL from an
        archive bring it back, a new clone is not needed (and not made here).
        """
        rc, out, dummy = self.read_slot()
        fields = (out.strip().splitlines() or [""])[0].split("|") if rc == 0 else []
        if fields[:1] != ["physical"] or (len(fields) > 1 and fields[1]):
            return ""
        return (
            f". The primary's slot {self.p['slot_name']} holds no WAL (invalidated by "
            "max_slot_wal_keep_size: wal_status 'lost'): this standby needs the WAL it missed from an "
            "archive (restore_command; otus.pgrepl.site points it at Barman's) and a new slot "
            "(otus.pgrepl.postgresql_primary drops and recreates a lost one, WAL reserved). "
            "Its data is kept: it is not cloned again"
        )

    def wait_streaming(self):
        host, p = self.host, self.p
        timeout = p["wait_timeout"]
        if timeout <= 0 or host.module.check_mode:
            return
        deadline = time.monotonic() + timeout
        status = None
        while True:
            status = host.receiver_status()
            host.result["receiver_status"] = status or None
            if status == "streaming":
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(1)
        host.fail(
            f"the standby in {p['data_dir']} did not reach 'streaming' from "
            f"{p['primary_host']}:{p['primary_port']} through slot {p['slot_name']} "
            f"within {timeout}s (pg_stat_wal_receiver.status: {status or 'no receiver'}); "
            + host.last_errors()
            + self.lost_slot_hint()
            + (
                f". The old contents of the directory are kept in {host.result['moved_aside']}"
                if host.result.get("moved_aside")
                else ""
            )
        )
