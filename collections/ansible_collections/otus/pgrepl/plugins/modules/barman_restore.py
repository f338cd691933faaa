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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import BARMAN_ARGUMENT_SPEC, BarmanError
from ansible_collections.otus.pgrepl.plugins.module_utils.restore_run import Restore
from ansible_collections.otus.pgrepl.plugins.module_utils.restore_target import TargetError


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
