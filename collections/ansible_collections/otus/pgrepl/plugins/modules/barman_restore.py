#!/usr/bin/python
# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
module: barman_restore
short_description: Restore a Barman backup, optionally to a point in time, into an empty directory
version_added: 0.1.0
author: otus.pgrepl developers (!UNKNOWN)
description:
  - Runs on the Barman host. Picks a DONE backup of O(server), checks the recovery target against it and
    runs C(barman restore) (not the deprecated C(recover)) into O(destination), on this host or, with
    O(remote_ssh_command), on another host over SSH.
  - Refuses, before anything is copied, a server without a DONE backup, a time or LSN target earlier than
    the end of the backup (a backup only rolls forward), more than one target, a time without a UTC
    offset, a time in the future, and (O(check_archive)) a time or LSN target that Barman's WAL archive
    proves unreachable.
  - When the copy fails after the old directory was renamed aside, the half-written copy is removed and
    the old directory put back.
  - Barman (3.13.3 as packaged by Debian; 3.19.1's code is the same) with Python 3.13 or older can fail a
    remote restore of an incremental backup at random with C(No such file or directory) on its own
    C(barman_recovery-) temporary directory. Setting up C(pg_combinebackup) installs a SIGTERM handler that
    calls C(sys.exit) and is never removed; the forked rsync copy workers inherit it, and a worker stopped by
    the pool's C(terminate) apparently unwinds into the parent's frames and runs its clean-up, which removes
    that directory. For that case only (remote, incremental, O(check_destination)), the module empties what
    the failed run wrote and runs the same C(barman restore) once more, with a warning; RV(retried) holds
    the first failure.
  - Refuses a destination that is not empty or holds a C(postmaster.pid) unless O(force=true); with
    O(force=true) the old directory is renamed aside (C(<destination>.before-restore-<time>)), never deleted.
  - It does not start PostgreSQL; the C(otus.pgrepl.barman_restore) role lays down the configuration and
    starts the restored cluster.
options:
  server:
    description: Name of the server in Barman's configuration.
    type: str
    required: true
  backup_id:
    description:
      - C(auto) takes the newest DONE backup that ends before a time or LSN target (the newest DONE backup
        for other targets); C(latest) or C(oldest); or a backup id from C(barman list-backups).
    type: str
    default: auto
  destination:
    description: Data directory to restore into (on the remote host with O(remote_ssh_command)).
    type: path
    required: true
  remote_ssh_command:
    description:
      - SSH command Barman restores through, e.g. C(ssh -o BatchMode=yes postgres@10.0.0.3). The remote user
        must own O(destination)'s parent directory. Empty restores on the Barman host.
    type: str
  target_time:
    description: Stop recovery at this time (ISO 8601 with a UTC offset, e.g. C(2026-11-25 18:00:00+00)).
    type: str
  target_lsn:
    description: Stop recovery at this WAL position (e.g. C(0/3000028)).
    type: str
  target_xid:
    description: Stop recovery at this transaction id.
    type: str
  target_name:
    description: Stop recovery at this restore point (C(pg_create_restore_point)).
    type: str
  target_immediate:
    description: Stop as soon as the backup is consistent.
    type: bool
    default: false
  target_action:
    description: What PostgreSQL does when it reaches the target. Used only with a target.
    type: str
    choices: [promote, pause, shutdown]
    default: promote
  exclusive:
    description: Stop just before the target (time, xid, LSN) instead of just after it.
    type: bool
    default: false
  jobs:
    description: Parallel copy workers (C(barman restore --jobs)).
    type: int
    default: 1
  force:
    description: Restore even though O(destination) is not empty; the old directory is renamed aside.
    type: bool
    default: false
  check_archive:
    description:
      - Read Barman's WAL index and refuse a time target at or after the newest archived segment's archive
        time, or an LSN target past its end (no commit after the target can be in the archive).
      - In check mode a shortfall is a warning (a real run of the role archives the current WAL first).
    type: bool
    default: true
  check_destination:
    description:
      - Inspect O(destination) before restoring. Turn it off only when the caller has inspected the directory
        itself (the role does so on the target host before SSH to it is set up).
    type: bool
    default: true
extends_documentation_fragment:
  - otus.pgrepl.barman
attributes:
  check_mode:
    support: full
    description: Chooses the backup, checks the target and the destination, and reports the command it would run.
  diff_mode:
    support: none
    description: Reports no diff.
seealso:
  - name: barman restore
    description: Barman's restore command.
    link: https://docs.pgbarman.org/release/latest/user_guide/recovery.html
  - module: otus.pgrepl.barman_slot
"""

EXAMPLES = r"""
- name: Restore node1 as it was at 18:00 UTC onto node3, then promote
  otus.pgrepl.barman_restore:
    server: node1
    destination: /var/lib/postgresql/17/main
    remote_ssh_command: ssh -o BatchMode=yes postgres@10.89.0.13
    target_time: "2026-11-25 18:00:00+00"
  become: true
  delegate_to: barman

- name: Restore the latest backup into a directory on the Barman host
  otus.pgrepl.barman_restore:
    server: node1
    backup_id: latest
    destination: /var/lib/barman/restore/node1
  become: true
"""

RETURN = r"""
backup_id:
  description: The backup restored (or that would be).
  returned: always
  type: str
  sample: 20261125T201537
backup_type:
  description:
    - C(full), or C(incremental) (block-level, PostgreSQL 17) when Barman combines the backup with its parents in
      its C(local_staging_path) before the copy.
  returned: always
  type: str
  sample: incremental
parent_backup_id:
  description: The backup an incremental one builds on; C(null) for a full backup.
  returned: always
  type: str
  sample: 20261125T030002
backup_end_time:
  description: When that backup ended.
  returned: always
  type: str
  sample: "2026-11-25 20:15:37.983596+00:00"
backup_end_lsn:
  description: WAL position where that backup ended.
  returned: always
  type: str
  sample: 0/4000000
target:
  description: The recovery target, as kind and value; kind is null for the end of the WAL.
  returned: always
  type: dict
  sample: {kind: time, value: "2026-11-25 18:00:00+00"}
moved_aside:
  description: Where the old contents of O(destination) went when O(force=true) found it in use.
  returned: when the destination was not empty and O(force=true)
  type: str
newest_archived_wal:
  description: The newest WAL segment in Barman's archive when the target was checked.
  returned: when O(check_archive) ran for a time or LSN target
  type: str
retried:
  description: The first run's error when C(barman restore) lost its temporary directory and was run again.
  returned: when the restore was run a second time
  type: str
seconds:
  description: Wall-clock seconds of C(barman restore) (both runs when it was run again).
  returned: when the restore ran
  type: float
commands:
  description: Commands that changed something (or would have in check mode).
  returned: always
  type: list
  elements: str
"""

import datetime
import os
import re
import shlex
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import (
    BARMAN_ARGUMENT_SPEC,
    BarmanCli,
    BarmanError,
)
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

# Barman's own temporary directory vanished under it: the worker clean-up race described above.
# Python's ENOENT ("No such file or directory: '/tmp/barman_recovery-x/recovery.signal'") or
# rsync's ('change_dir "/tmp/barman_recovery-x" failed: No such file or directory'), on one line.
_LOST_TEMPDIR = re.compile(r"^(?=.*/barman_recovery-)(?=.*No such file or directory).*$", re.MULTILINE)


def lost_tempdir(text):
    """The line saying Barman's barman_recovery- temporary directory was removed under it, or None."""
    return _LOST_TEMPDIR.search(text or "")


_FLAG = {"time": "--target-time", "lsn": "--target-lsn", "xid": "--target-xid", "name": "--target-name"}


class Destination:
    """The directory restored into, here or behind the SSH command."""

    def __init__(self, module, path, ssh, user):
        self.module = module
        self.path = path.rstrip("/") or "/"
        self.ssh = shlex.split(ssh) if ssh else []
        # The SSH key and known_hosts are the Barman user's, not root's.
        if self.ssh and os.geteuid() == 0 and user != "root":
            self.ssh = ["runuser", "-u", user, "--", *self.ssh]

    def _run(self, argv):
        return self.module.run_command(self.ssh + [shlex.join(argv)] if self.ssh else argv)

    def describe(self):
        prefix = " ".join(self.ssh[-1:]) + ":" if self.ssh else ""
        return prefix + self.path

    def state(self):
        """'absent', 'empty', 'running' (postmaster.pid) or 'used'."""
        script = (
            'if [ ! -e "$1" ]; then echo absent; '
            'elif [ ! -d "$1" ]; then echo notdir; '
            'elif [ -e "$1/postmaster.pid" ]; then echo running; '
            'elif [ -n "$(ls -A "$1")" ]; then echo used; '
            "else echo empty; fi"
        )
        rc, out, err = self._run(["sh", "-c", script, "sh", self.path])
        if rc != 0:
            raise BarmanError(f"cannot inspect {self.describe()} (rc={rc}): {(err or out).strip()}")
        return out.strip()

    def put_back(self, aside):
        """Undo a failed copy: remove what it wrote, rename the old directory back."""
        rc, out, err = self._run(["sh", "-c", 'rm -rf -- "$1" && mv -- "$2" "$1"', "sh", self.path, aside])
        if rc != 0:
            raise BarmanError(
                f"the restore failed and {aside} could not be put back in place: {(err or out).strip()}"
            )

    def empty(self):
        """Remove what a failed run wrote; only called on a directory that was absent, empty or moved aside."""
        # -H: a destination that is a symlink is emptied where it points, as state() saw it.
        script = '[ ! -e "$1" ] || find -H "$1" -mindepth 1 -delete'
        rc, out, err = self._run(["sh", "-c", script, "sh", self.path])
        if rc != 0:
            raise BarmanError(
                f"cannot empty {self.describe()} for a second run (rc={rc}): {(err or out).strip()}"
            )

    def move_aside(self, stamp):
        aside = f"{self.path}.before-restore-{stamp}"
        rc, out, err = self._run(["mv", "--no-clobber", "--", self.path, aside])
        if rc != 0:
            raise BarmanError(f"cannot move {self.describe()} aside to {aside}: {(err or out).strip()}")
        return aside


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

    def __call__(self):
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

        if self.p["check_destination"]:
            state = self.dest.state()
            if state == "notdir":
                raise TargetError(f"{self.dest.describe()} exists and is not a directory")
            if state in ("running", "used") and not self.p["force"]:
                why = (
                    "holds postmaster.pid (a server runs there, or crashed)"
                    if state == "running"
                    else "is not empty"
                )
                raise TargetError(
                    f"{self.dest.describe()} {why}: nothing was changed. Stop that server and empty the "
                    "directory, or set force=true to have it renamed aside (never deleted)."
                )
            if state in ("running", "used"):
                # timezone.utc, not datetime.UTC: managed hosts may run Python older than 3.11.
                stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")  # noqa: UP017
                self.result["commands"].append(
                    f"mv {self.dest.describe()} {self.dest.path}.before-restore-{stamp}"
                )
                if not self.module.check_mode:
                    self.result["moved_aside"] = self.dest.move_aside(stamp)

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
            self.result["retried"] = (err or out).strip()[-2000:]
            self.module.warn(
                "barman restore lost its temporary directory (a clean-up race between Barman's copy "
                f"workers on incremental restores) and is run once more: {lost.group(0).strip()}"
            )
            try:
                self.dest.empty()
            except BarmanError as exc:
                rc, out, err = 1, "", str(exc)
            else:
                self.result["commands"].append(
                    f"find -H {shlex.quote(self.dest.describe())} -mindepth 1 -delete"
                )
                self.result["commands"].append(shlex.join(argv))
                rc, out, err = self.module.run_command(argv)
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


def main():
    module = AnsibleModule(
        argument_spec={
            "server": {"type": "str", "required": True},
            "backup_id": {"type": "str", "default": "auto"},
            "destination": {"type": "path", "required": True},
            "remote_ssh_command": {"type": "str"},
            "target_time": {"type": "str"},
            "target_lsn": {"type": "str"},
            "target_xid": {"type": "str"},
            "target_name": {"type": "str"},
            "target_immediate": {"type": "bool", "default": False},
            "target_action": {
                "type": "str",
                "choices": ["promote", "pause", "shutdown"],
                "default": "promote",
            },
            "exclusive": {"type": "bool", "default": False},
            "jobs": {"type": "int", "default": 1},
            "force": {"type": "bool", "default": False},
            "check_destination": {"type": "bool", "default": True},
            "check_archive": {"type": "bool", "default": True},
            **BARMAN_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    if module.params["jobs"] < 1:
        module.fail_json(msg=f"jobs must be 1 or more (got {module.params['jobs']})")
    restore = Restore(module)
    try:
        result = restore()
    except (TargetError, BarmanError) as exc:
        module.fail_json(msg=str(exc), **restore.result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
