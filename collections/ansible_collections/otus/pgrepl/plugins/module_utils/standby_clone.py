# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""A standby cloned from scratch with pg_basebackup, for pg_standby_clone.

A forced clone proves the primary answers before it touches anything, keeps the old directory aside
until the new standby streams, and puts it back when pg_basebackup fails.
"""

from __future__ import annotations

import datetime
import os
import shutil


class StandbyCloner:
    def __init__(self, host, link):
        self.host = host
        self.link = link
        self.p = host.p

    def basebackup_argv(self):
        p = self.p
        return [
            os.path.join(self.host.bin_dir, "pg_basebackup"),
            "-h",
            p["primary_host"],
            "-p",
            str(p["primary_port"]),
            "-U",
            p["primary_user"],
            "-D",
            p["data_dir"],
            "-R",
            "-X",
            "stream",
            "-S",
            p["slot_name"],
            "--checkpoint=fast",
            "-w",
        ]

    def probe_primary(self):
        """Fail, changing nothing on this host, unless the primary answers and holds the slot."""
        p = self.p
        rc, out, err = self.link.read_slot()
        where = f"{p['primary_host']}:{p['primary_port']}"
        if rc != 0:
            self.host.fail(
                f"the primary {where} does not answer a replication connection as {p['primary_user']} "
                f"(rc={rc}): {(err or out).strip()[-400:]}. Nothing was changed in {p['data_dir']}."
            )
        slot_type = (out.strip().splitlines() or [""])[0].split("|")[0]
        if slot_type != "physical":
            self.host.fail(
                f"the primary {where} has no physical replication slot {p['slot_name']} "
                f"(READ_REPLICATION_SLOT: {out.strip() or 'empty'}). Create it first "
                f"(the postgresql_primary role does); nothing was changed in {p['data_dir']}."
            )

    def chown(self, path):
        os.chown(path, self.host.owner.pw_uid, self.host.owner.pw_gid)

    def make_empty_dir(self, data_dir):
        parent = os.path.dirname(os.path.normpath(data_dir))
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
            self.chown(parent)
        if not os.path.isdir(data_dir):
            os.mkdir(data_dir, 0o700)
        os.chmod(data_dir, 0o700)
        self.chown(data_dir)

    @staticmethod
    def empty_dir(path):
        for entry in os.listdir(path):
            full = os.path.join(path, entry)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)

    def put_back(self, data_dir, aside, was_active):
        """Undo a clone that failed: the half-written copy goes, the old directory returns."""
        if aside is None:
            self.empty_dir(data_dir)
            return f"{data_dir} was emptied again"
        shutil.rmtree(data_dir, ignore_errors=True)
        os.rename(aside, data_dir)
        self.host.commands.append(f"mv {aside} {data_dir}")
        if was_active:
            self.host.run(["systemctl", "start", self.host.service])
        return f"the old {data_dir} was put back as it was" + (" and started again" if was_active else "")

    def clone(self, state):
        host, data_dir = self.host, self.p["data_dir"]
        argv = host.as_owner(self.basebackup_argv())
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")  # noqa: UP017
        aside = None if state["empty"] else f"{data_dir}.before-clone-{stamp}"
        if host.module.check_mode:
            if aside:
                host.commands.append(f"systemctl stop {host.service}")
                host.commands.append(f"mv {data_dir} {aside}")
            host.show(argv)
            if self.p["start"]:
                host.commands.append(f"systemctl start {host.service}")
            if aside:
                host.commands.append(f"rm -r {aside} (once the standby streams)")
            host.result.update(changed=True, cloned=True)
            return
        self.link.ensure_passfile()
        self.probe_primary()
        was_active = False
        if aside:
            was_active = host.is_active()
            host.stop()
            os.rename(data_dir, aside)
            host.commands.append(f"mv {data_dir} {aside}")
            host.result["moved_aside"] = aside
        self.make_empty_dir(data_dir)
        env = {"PGPASSFILE": host.passfile, "PGAPPNAME": host.application_name}
        env.update({f"PG{k.upper()}": v for k, v in self.link.tls().items()})
        rc, out, err = host.run(argv, environ_update=env)
        if rc != 0:
            undone = self.put_back(data_dir, aside, was_active)
            host.result.pop("moved_aside", None)
            host.fail(
                f"pg_basebackup failed (rc={rc}); {undone}: {err.strip() or out.strip()}", stderr=err, rc=rc
            )
        self.link.write_standby_settings()
        host.result.update(changed=True, cloned=True)
        if self.p["start"]:
            host.start()

    def drop_moved_aside(self):
        """The old directory goes once the new standby streamed; kept (and said) otherwise."""
        host = self.host
        aside = host.result.get("moved_aside")
        if not aside:
            return
        if self.p["start"] and self.p["wait_timeout"] > 0 and host.result["receiver_status"] == "streaming":
            shutil.rmtree(aside)
            host.commands.append(f"rm -r {aside} (the new standby streams)")
            del host.result["moved_aside"]
        else:
            host.module.warn(
                f"the old contents of {self.p['data_dir']} are kept in {aside}: "
                "delete that directory once the standby streams"
            )
