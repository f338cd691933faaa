# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""The directory barman_restore restores into, on the Barman host or behind the SSH command Barman copies
through: what is there, making room for the restore (never deleting what was there), and undoing a copy
that failed."""

from __future__ import annotations

import datetime
import os
import shlex

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import BarmanError
from ansible_collections.otus.pgrepl.plugins.module_utils.restore_target import TargetError


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

    def make_room(self, force, commands):
        """Refuse a destination in use unless force; with force rename it aside (recorded in commands).

        Returns where it went, or None (nothing moved, or check mode).
        """
        state = self.state()
        if state == "notdir":
            raise TargetError(f"{self.describe()} exists and is not a directory")
        if state in ("running", "used") and not force:
            why = (
                "holds postmaster.pid (a server runs there, or crashed)"
                if state == "running"
                else "is not empty"
            )
            raise TargetError(
                f"{self.describe()} {why}: nothing was changed. Stop that server and empty the "
                "directory, or set force=true to have it renamed aside (never deleted)."
            )
        if state not in ("running", "used"):
            return None
        # timezone.utc, not datetime.UTC: managed hosts may run Python older than 3.11.
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")  # noqa: UP017
        commands.append(f"mv {self.describe()} {self.path}.before-restore-{stamp}")
        if self.module.check_mode:
            return None
        return self.move_aside(stamp)

    def move_aside(self, stamp):
        aside = f"{self.path}.before-restore-{stamp}"
        rc, out, err = self._run(["mv", "--no-clobber", "--", self.path, aside])
        if rc != 0:
            raise BarmanError(f"cannot move {self.describe()} aside to {aside}: {(err or out).strip()}")
        return aside

    def put_back(self, aside):
        """Undo a failed copy: remove what it wrote, rename the old directory back."""
        rc, out, err = self._run(["sh", "-c", 'rm -rf -- "$1" && mv -- "$2" "$1"', "sh", self.path, aside])
        if rc != 0:
            raise BarmanError(
                f"the restore failed and {aside} could not be put back in place: {(err or out).strip()}"
            )

    def empty(self):
        """Remove what a failed run wrote.

        Only called on a directory that was absent, empty or moved aside.
        """
        # -H: a destination that is a symlink is emptied where it points, as state() saw it.
        script = '[ ! -e "$1" ] || find -H "$1" -mindepth 1 -delete'
        rc, out, err = self._run(["sh", "-c", script, "sh", self.path])
        if rc != 0:
            raise BarmanError(
                f"cannot empty {self.describe()} for a second run (rc={rc}): {(err or out).strip()}"
            )
