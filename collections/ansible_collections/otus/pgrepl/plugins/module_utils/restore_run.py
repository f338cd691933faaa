# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""One barman_restore run: the backup and target chosen and checked (restore_target), room made in the
destination (restore_destination), barman restore run once more after Barman's temporary-directory race,
and the old directory put back when the copy fails."""

from __future__ import annotations

import os
import re
import shlex
import time

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import BarmanCli, BarmanError
from ansible_collections.otus.pgrepl.plugins.module_utils.restore_destination import Destination
from ansible_collections.otus.pgrepl.plugins.module_utils.restore_target import (
    TargetError,
    backup_end,
    check_not_future,
    check_reachable,
    choose_backup,
    format_lsn,
    newest_archived,
    target_of,
)

# Barman's own temporary directory vanished under it: the worker clean-up race that barman_restore's
# description tells of.
# Python's ENOENT ("No such file or directory: '/tmp/barman_recovery-x/recovery.signal'") or
# rsync's ('change_dir "/tmp/barman_recovery-x" failed: No such file or directory'), on one line.
_LOST_TEMPDIR = re.compile(r"^(?=.*/barman_recovery-)(?=.*No such file or directory).*$", re.MULTILINE)


def lost_tempdir(text):
    """The line saying Barman's barman_recovery- temporary directory was removed under it, or None."""
    return _LOST_TEMPDIR.search(text or "")


_FLAG = {"time": "--target-time", "lsn": "--target-lsn", "xid": "--target-xid", "name": "--target-name"}


class Restore:
    def __init__(self, module):
        self.module = module
        p = module.params
        self.p = p
        self.barman = BarmanCli(module, user=p["barman_user"], config=p["barman_config"])
        self.dest = Destination(module, p["destination"], p["remote_ssh_command"], p["barman_user"])
        self.result = {"changed": False, "commands": []}

    def done_backups(self, server):
        listing = self.barman.json("list-backups", server).get(server, [])
        return [b["backup_id"] for b in listing if b.get("status") == "DONE"]

    def show_backup(self, server, backup_id):
        shown = self.barman.json("show-backup", server, backup_id).get(server)
        if not shown:
            raise BarmanError(f"barman show-backup {server} {backup_id} printed nothing")
        return shown

    def check_archive(self, server, kind, value):
        """Refuse (warn in check mode) a time/LSN target Barman's archive proves unreachable."""
        wals = self.barman.server(server).get("wals_directory") or ""
        text = ""
        for name in (f"{server}-xlog.db", "xlog.db"):
            path = os.path.join(wals, name)
            if os.path.isfile(path):
                with open(path) as handle:
                    text = handle.read()
                break
        segment, archived = newest_archived(text)
        self.result["newest_archived_wal"] = segment
        try:
            check_reachable(kind, value, segment, archived, time.time())
        except TargetError as exc:
            if self.module.check_mode and "in the future" not in str(exc):
                self.module.warn(str(exc))
            else:
                raise

    def argv(self, backup_id, kind, value):
        args = ["restore"]
        if kind == "immediate":
            args.append("--target-immediate")
        elif kind:
            args += [_FLAG[kind], value]
        if kind:
            args += ["--target-action", self.p["target_action"]]
            if self.p["exclusive"] and kind in ("time", "lsn", "xid"):
                args.append("--exclusive")
        if self.p["jobs"] > 1:
            args += ["--jobs", str(self.p["jobs"])]
        if self.p["remote_ssh_command"]:
            args += ["--remote-ssh-command", self.p["remote_ssh_command"]]
        args += [self.p["server"], backup_id, self.dest.path]
        return args

    def choose(self):
        """The backup and target, checked against each other and Barman's archive: (backup, kind, value)."""
        server = self.p["server"]
        kind, value = target_of(self.p)
        backup = choose_backup(
            server,
            self.done_backups(server),
            lambda backup_id: self.show_backup(server, backup_id),
            self.p["backup_id"],
            (kind, value),
        )
        end_time, end_lsn = backup_end(backup)
        self.result.update(
            backup_id=backup["backup_id"],
            backup_type=backup.get("backup_type") or "full",
            parent_backup_id=(backup.get("catalog_information") or {}).get("parent_backup_id"),
            backup_end_time=end_time.isoformat(sep=" "),
            backup_end_lsn=format_lsn(end_lsn),
            target={"kind": kind, "value": value},
        )
        if self.p["check_archive"] and kind in ("time", "lsn"):
            self.check_archive(server, kind, value)
        elif kind == "time":
            check_not_future(value, time.time())
        return backup, kind, value

    def __call__(self):
        backup, kind, value = self.choose()
        if self.p["check_destination"]:
            aside = self.dest.make_room(self.p["force"], self.result["commands"])
            if aside:
                self.result["moved_aside"] = aside
        argv = self.barman.argv(*self.argv(backup["backup_id"], kind, value))
        self.result["commands"].append(shlex.join(argv))
        self.result["changed"] = True
        if self.module.check_mode:
            return self.result
        started = time.monotonic()
        rc, out, err = self.module.run_command(argv)
        lost = rc != 0 and lost_tempdir(f"{out}\n{err}")
        # Only the race's own path: a remote copy (rsync workers) of an incremental backup
        # (pg_combinebackup's handler), into a destination inspected above, which was absent,
        # empty or moved aside, so what is there now is the failed run's own copy.
        if (
            lost
            and self.p["check_destination"]
            and self.dest.ssh
            and self.result["backup_type"] == "incremental"
        ):
            rc, out, err = self.rerun(argv, lost, err or out)
        self.result["seconds"] = round(time.monotonic() - started, 3)
        self.result["stdout"] = out
        if rc != 0:
            why = f"barman restore failed (rc={rc}): {(err or out).strip()[-2000:]}"
            aside = self.result.pop("moved_aside", None)
            if aside:
                self.dest.put_back(aside)
                self.result["commands"].append(f"rm -r {self.dest.path}; mv {aside} {self.dest.path}")
                why += f". The old directory was put back in {self.dest.describe()}"
            raise BarmanError(why)
        return self.result

    def rerun(self, argv, lost, first_error):
        """barman restore once more, into the emptied destination: (rc, out, err)."""
        self.result["retried"] = first_error.strip()[-2000:]
        self.module.warn(
            "barman restore lost its temporary directory (a clean-up race between Barman's copy "
            f"workers on incremental restores) and is run once more: {lost.group(0).strip()}"
        )
        try:
            self.dest.empty()
        except BarmanError as exc:
            return 1, "", str(exc)
        self.result["commands"].append(f"find -H {shlex.quote(self.dest.describe())} -mindepth 1 -delete")
        self.result["commands"].append(shlex.join(argv))
        return self.module.run_command(argv)
