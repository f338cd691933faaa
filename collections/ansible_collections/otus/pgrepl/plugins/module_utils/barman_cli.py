# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Running the barman command from a module and reading its JSON output."""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex

_RECORD = re.compile(
    r"Record\(slot_name='(?P<name>[^']*)',\s*active=(?P<active>True|False),\s*restart_lsn=(?P<lsn>None|'[^']*')\)"
)


# Options of every module that runs barman (documented in doc_fragments/barman.py).
BARMAN_ARGUMENT_SPEC = {
    "barman_user": {"type": "str", "default": "barman"},
    "barman_config": {"type": "path"},
}


class BarmanError(Exception):
    """barman said something we cannot go on from."""


def parse_slot_record(value):
    """show-servers' replication_slot field -> dict, or None when there is no slot."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, dict):
        return {
            "name": value.get("slot_name"),
            "active": bool(value.get("active")),
            "restart_lsn": value.get("restart_lsn"),
        }
    match = _RECORD.search(str(value))
    if not match:
        raise BarmanError(f"cannot read the replication slot from barman: {value!r}")
    lsn = match.group("lsn")
    return {
        "name": match.group("name"),
        "active": match.group("active") == "True",
        "restart_lsn": None if lsn == "None" else lsn.strip("'"),
    }


class BarmanCli:
    """barman commands run as the barman user, recorded for the module's result."""

    def __init__(self, module, user="barman", executable="barman", config=None):
        self.module = module
        self.user = user
        self.executable = executable
        self.config = config
        self.commands = []

    def argv(self, *args, json_output=False):
        argv = [self.executable]
        if self.config:
            argv += ["-c", self.config]
        if json_output:
            argv += ["-f", "json"]
        argv += list(args)
        return self.as_user(argv)

    def as_user(self, argv):
        """A command line run as the barman user (through runuser when the module runs as root)."""
        argv = list(argv)
        if os.geteuid() == 0 and self.user != "root":
            try:
                pwd.getpwnam(self.user)
            except KeyError as exc:
                raise BarmanError(f"no user {self.user!r} on this host: is Barman installed?") from exc
            argv = ["runuser", "-u", self.user, "--", *argv]
        return argv

    def run(self, *args, record=True):
        argv = self.argv(*args)
        if record:
            self.commands.append(" ".join(shlex.quote(a) for a in argv))
        return self.module.run_command(argv)

    def json(self, *args):
        """Run a read-only command with JSON output; raise on barman's own errors."""
        rc, out, err = self.module.run_command(self.argv(*args, json_output=True))
        try:
            data = json.loads(out) if out.strip() else {}
        except ValueError as exc:
            raise BarmanError(
                f"barman {' '.join(args)} printed no JSON (rc={rc}): {(err or out).strip()}"
            ) from exc
        if isinstance(data, dict) and data.get("_ERROR"):
            raise BarmanError("; ".join(str(e) for e in data["_ERROR"]))
        if rc != 0 and not data:
            raise BarmanError(f"barman {' '.join(args)} failed (rc={rc}): {(err or out).strip()}")
        return data

    def server(self, name):
        """show-servers for one server: its settings and live state."""
        data = self.json("show-servers", name)
        if name not in data:
            raise BarmanError(f"Unknown server '{name}'")
        return data[name]

    def check(self, name):
        """barman check for one server: {check: {status, hint}}."""
        data = self.json("check", name)
        return data.get(name, {})


def replication_conninfo(conninfo):
    """Barman's streaming conninfo as a physical replication connection (psql then takes IDENTIFY_SYSTEM)."""
    conninfo = (conninfo or "").strip()
    if conninfo.startswith(("postgres://", "postgresql://")):
        return conninfo + ("&" if "?" in conninfo else "?") + "replication=true"
    return f"{conninfo} replication=true".strip()


def describe_checks(checks):
    return "; ".join(
        f"{name}: {info.get('status')}" + (f" ({info['hint']})" if info.get("hint") else "")
        for name, info in sorted(checks.items())
    )
