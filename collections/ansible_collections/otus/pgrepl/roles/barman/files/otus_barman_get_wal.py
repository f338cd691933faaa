#!/usr/bin/python3
# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""otus-barman-get-wal --server NAME [--server NAME ...]: the forced command of
the database hosts' SSH keys on the Barman host.

Installed by the otus.pgrepl.barman role as /usr/local/bin/otus-barman-get-wal
and named in the barman user's authorized_keys as
`restrict,from="<db host>",command="/usr/local/bin/otus-barman-get-wal --server <name>"`.

sshd runs it instead of whatever the client asked for and puts the request in
SSH_ORIGINAL_COMMAND. barman-wal-restore (the standby's restore_command) asks
for exactly one shape of command:

    barman [--config /etc/barman.conf] get-wal [--test] [--partial] [--peek 'N']
           [--gzip|--bzip2] [--keep-compression] 'SERVER' 'WALNAME'

Only that shape, for the servers named on this script's command line and for
WAL segment, .partial and timeline history names (or barman-wal-restore
--test's dummy_wal_name), goes through: this script then replaces itself with
barman (an argv list, no shell). Anything else is refused with a message on
stderr and exit status 1, so a stolen key reads WAL of its own server and
nothing more.
"""

from __future__ import annotations

import os
import re
import shlex
import sys

BARMAN = "/usr/bin/barman"
BARMAN_CONFIG = "/etc/barman.conf"
# Seen by barman-wal-restore --test: a connection check that restores nothing.
TEST_WAL = "dummy_wal_name"

# Matched with fullmatch: "$" would let a trailing newline through.
SERVER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
WAL_RES = (
    re.compile(r"[0-9A-F]{24}"),
    re.compile(r"[0-9A-F]{24}\.partial"),
    re.compile(r"[0-9A-F]{8}\.history"),
)
PEEK_RE = re.compile(r"[1-9][0-9]{0,3}")
# get-wal's flags that take no value; --gzip and --bzip2 exclude each other.
FLAGS = ("--test", "--partial", "--gzip", "--bzip2", "--keep-compression")


class Refused(Exception):
    """The request is not one this key may make."""


def allowed_servers(argv):
    """Server names from this script's own arguments (--server NAME, repeated)."""
    servers = []
    args = list(argv)
    while args:
        opt = args.pop(0)
        if opt != "--server" or not args:
            raise Refused(f"usage: otus-barman-get-wal --server NAME [--server NAME ...] (got {opt!r})")
        name = args.pop(0)
        if not SERVER_RE.fullmatch(name):
            raise Refused(f"invalid server name in the forced command: {name!r}")
        servers.append(name)
    if not servers:
        raise Refused("the forced command names no server: nothing may be read")
    return servers


def wal_name_ok(name, test):
    if test and name == TEST_WAL:
        return True
    return any(r.fullmatch(name) for r in WAL_RES)


def parse(command, servers):
    """The barman argv for an SSH_ORIGINAL_COMMAND, or Refused."""
    if not command or not command.strip():
        raise Refused("this key only runs 'barman get-wal': no command was given (no shell, no login)")
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise Refused(f"cannot parse the command: {exc}") from None
    if words[:1] != ["barman"]:
        raise Refused(f"this key only runs 'barman get-wal', not {words[0]!r}")
    words = words[1:]
    argv = [BARMAN]
    if words[:1] == ["--config"]:
        if words[1:2] != [BARMAN_CONFIG]:
            raise Refused(f"only --config {BARMAN_CONFIG} is allowed")
        argv += ["--config", BARMAN_CONFIG]
        words = words[2:]
    if words[:1] != ["get-wal"]:
        raise Refused(f"this key only runs 'barman get-wal', not 'barman {' '.join(words[:1])}'")
    argv.append("get-wal")
    words = words[1:]
    seen = set()
    positional = []
    while words:
        word = words.pop(0)
        if word.startswith("-"):
            if positional:
                raise Refused(f"option {word!r} after the server and WAL names")
            if word in seen:
                raise Refused(f"option {word!r} given twice")
            seen.add(word)
            if word in FLAGS:
                argv.append(word)
            elif word == "--peek":
                if not words or not PEEK_RE.fullmatch(words[0]):
                    raise Refused("--peek takes a number from 1 to 9999")
                argv += ["--peek", words.pop(0)]
            else:
                raise Refused(f"option {word!r} is not allowed")
        else:
            positional.append(word)
    if {"--gzip", "--bzip2"} <= seen:
        raise Refused("--gzip and --bzip2 exclude each other")
    if len(positional) != 2:
        raise Refused(f"expected a server and a WAL name, got {len(positional)} names")
    server, wal = positional
    if server not in servers:
        raise Refused(f"server {server!r} is not one this key may read ({', '.join(servers)})")
    if not wal_name_ok(wal, "--test" in seen):
        raise Refused(f"{wal!r} is not a WAL segment, .partial or .history name")
    return argv + [server, wal]


def main(argv=None, environ=None):
    environ = os.environ if environ is None else environ
    try:
        servers = allowed_servers(sys.argv[1:] if argv is None else argv)
        command = parse(environ.get("SSH_ORIGINAL_COMMAND", ""), servers)
    except Refused as exc:
        print(f"otus-barman-get-wal: refused: {exc}", file=sys.stderr)
        return 1
    os.execv(command[0], command)
    return 1  # not reached: execv replaced this process


if __name__ == "__main__":
    sys.exit(main())
