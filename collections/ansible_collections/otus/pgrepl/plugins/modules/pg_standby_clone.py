#!/usr/bin/python
# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_standby_clone
short_description: Clone a PostgreSQL hot standby from its primary through a replication slot
version_added: 0.1.0
author: otus.pgrepl developers (!UNKNOWN)
description:
  - Makes O(data_dir) a streaming standby of O(primary_host) with
    C(pg_basebackup -R -X stream -S <slot> --checkpoint=fast), then starts the cluster the way the
    distribution expects (Debian and Ubuntu C(postgresql@<version>-<cluster>)) and waits until
    C(pg_stat_wal_receiver) reports C(streaming).
  - Does nothing when the directory already is a standby of that primary through that slot
    (C(standby.signal) present, C(primary_conninfo) host, port and user and C(primary_slot_name) agree),
    so a second run never clones again; a stopped standby is only started.
  - That holds, O(force) or not, for a standby whose slot on the primary lost its WAL
    (C(max_slot_wal_keep_size), C(wal_status = 'lost')). Its data is still that cluster's, so it is
    not cloned again. It catches up from an archive (C(restore_command)) once the slot is made again;
    when it does not stream within O(wait_timeout), the failure says the slot was lost and what brings it back.
  - Refuses to clone over a non-empty data directory unless O(force=true); nothing is deleted then.
    With O(force=true) it first proves the primary answers and the slot exists there, then stops the
    cluster and renames the directory aside (C(<data_dir>.before-clone-<time>)); the old copy is deleted
    only once the new standby streams, and put back in place when the clone fails.
  - Refuses a O(data_dir) that resolves (symlinks followed) to O(data_root) itself or anywhere outside it.
  - Files it writes as root (the passfile, C(postgresql.auto.conf), C(standby.signal)) are written to a
    temporary file in the same directory and renamed over the name, so a symlink there is replaced, not followed.
  - The password reaches C(pg_basebackup) and the standby's WAL receiver through a passfile
    (O(passfile)), never through the command line or C(postgresql.auto.conf).
  - The slot must exist on the primary before the clone, with WAL reserved
    (M(community.postgresql.postgresql_slot) with C(immediately_reserve=true)).
    A failed C(pg_basebackup) is reported with its stderr, and the directory is left as it was before
    (emptied again, or the old directory moved back) so that nothing half-written claims to be a standby.
options:
  primary_host:
    description: Host name or address of the primary, as the standby connects to it.
    type: str
    required: true
  primary_port:
    description: Port of the primary.
    type: int
    default: 5432
  primary_user:
    description: Role with the REPLICATION attribute on the primary.
    type: str
    default: replicator
  primary_password:
    description:
      - Password of O(primary_user). Written to O(passfile) (mode 0600, owned by O(owner)).
      - Leave it out when O(passfile) already holds the line.
    type: str
  passfile:
    description: Passfile used by C(pg_basebackup) and by the standby's C(primary_conninfo). When left out, C(.pgpass) in the home of O(owner).
    type: path
  slot_name:
    description: Physical replication slot on the primary that this standby streams through.
    type: str
    required: true
  application_name:
    description: Name the standby reports to the primary (C(pg_stat_replication.application_name)). When left out, O(slot_name).
    type: str
  data_dir:
    description: Data directory of the standby cluster.
    type: path
    required: true
  data_root:
    description:
      - Directory every data directory lives below. O(data_dir) must resolve to a path strictly inside it.
    type: path
    default: /var/lib/postgresql
  version:
    description: PostgreSQL major version; sets the defaults of O(bin_dir), O(service) and O(log_file).
    type: int
    default: 17
  cluster:
    description: Cluster name in the distribution's layout (C(/etc/postgresql/<version>/<cluster>)).
    type: str
    default: main
  bin_dir:
    description: Directory holding C(pg_basebackup) and C(psql). When left out, C(/usr/lib/postgresql/<version>/bin).
    type: path
  service:
    description: systemd unit that runs the cluster. When left out, C(postgresql@<version>-<cluster>).
    type: str
  port:
    description: Port the standby itself listens on (used to query its WAL receiver).
    type: int
    default: 5432
  socket_dir:
    description: Unix socket directory of the standby.
    type: path
    default: /var/run/postgresql
  log_file:
    description:
      - Server log read for the WAL receiver's last error when streaming does not start.
      - When left out, C(/var/log/postgresql/postgresql-<version>-<cluster>.log).
    type: path
  config_file:
    description:
      - Server configuration file C(pg_rewind) starts the target with when it must finish a crash recovery
        first (a primary that died). On Debian and Ubuntu it lives outside the data directory.
      - When left out, C(/etc/postgresql/<version>/<cluster>/postgresql.conf) if that file exists.
    type: path
  owner:
    description: Operating-system user that owns the cluster; C(pg_basebackup) runs as this user.
    type: str
    default: postgres
  force:
    description:
      - Replace a non-empty O(data_dir) that is not already the wanted standby.
      - Only after the primary answered and the slot was found there, the cluster is stopped (a failed stop
        ends the run) and the directory renamed aside; it is deleted once the new standby streams (kept, and
        returned as RV(moved_aside), when O(start=false) or O(wait_timeout=0) leave that unproven).
      - Needs room for both copies on the file system of O(data_dir) while the clone runs.
    type: bool
    default: false
  rejoin:
    description:
      - Make a cluster that already holds this system's data a standby of O(primary_host) without a new
        clone (the way back for a former primary, and the way to re-point a standby after a switchover).
      - A running standby of another source gets the new C(primary_conninfo) and C(primary_slot_name) and a
        reload; when it does not stream within O(wait_timeout) (its timeline went elsewhere) it is rewound.
      - Anything else (a former primary, running or not; a stopped standby) is stopped and rewound with
        C(pg_rewind) from O(primary_host) (which does nothing when the histories did not diverge), then
        started as a standby.
      - C(pg_rewind) connects as O(primary_user) to the C(postgres) database, so that role needs EXECUTE on
        C(pg_ls_dir), C(pg_stat_file) and C(pg_read_binary_file), and the passfile a line for it.
      - When C(pg_rewind) fails (another system, WAL gone), the module fails and changes nothing more, unless
        O(force=true), which clones again.
    type: bool
    default: false
  ssl_mode:
    description:
      - C(sslmode) of every connection to the primary (C(pg_basebackup), C(pg_rewind), the standby's
        C(primary_conninfo)). With C(verify-ca) or C(verify-full) give O(ssl_root_cert).
      - A standby whose C(primary_conninfo) has other TLS settings gets the new ones and a reload (no restart).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: prefer
  ssl_root_cert:
    description: CA certificate the primary's certificate is checked against (C(sslrootcert)).
    type: path
  start:
    description: Start the cluster after the clone (and when a healthy standby is found stopped).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for C(pg_stat_wal_receiver) to report C(streaming); C(0) does not wait.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Reports what would be run and runs nothing.
  diff_mode:
    support: none
    description: Reports no diff.
seealso:
  - module: community.postgresql.postgresql_slot
  - name: pg_rewind
    description: Synchronise a data directory with another copy of the same cluster.
    link: https://www.postgresql.org/docs/current/app-pgrewind.html
  - name: pg_basebackup
    description: PostgreSQL's base backup tool.
    link: https://www.postgresql.org/docs/current/app-pgbasebackup.html
  - name: Log-shipping standby servers
    description: How PostgreSQL standbys stream from a primary.
    link: https://www.postgresql.org/docs/current/warm-standby.html
notes:
  - Run it as root on the standby host (with C(become)).
"""

EXAMPLES = r"""
- name: Reserve WAL for the standby on the primary first
  community.postgresql.postgresql_slot:
    name: node2
    slot_type: physical
    immediately_reserve: true
  become: true
  become_user: postgres
  delegate_to: node1

- name: Clone node2 from node1 through slot node2, over TLS that checks node1's certificate
  otus.pgrepl.pg_standby_clone:
    primary_host: node1
    primary_user: replicator
    primary_password: "{{ replication_password }}"
    slot_name: node2
    data_dir: /var/lib/postgresql/17/main
    ssl_mode: verify-full
    ssl_root_cert: /etc/otus-pgrepl/tls/ca.crt
  become: true

- name: Replace whatever is in the data directory (destroys it)
  otus.pgrepl.pg_standby_clone:
    primary_host: 192.168.57.11
    primary_password: "{{ replication_password }}"
    slot_name: node3
    data_dir: /var/lib/postgresql/17/main
    force: true
  become: true

- name: Bring the old primary node1 back as a standby of node2 (pg_rewind when needed)
  otus.pgrepl.pg_standby_clone:
    primary_host: node2
    slot_name: node1
    data_dir: /var/lib/postgresql/17/main
    rejoin: true
  become: true
"""

RETURN = r"""
cloned:
  description: Whether C(pg_basebackup) ran in this call (or would have, in check mode).
  returned: always
  type: bool
  sample: true
started:
  description: Whether the cluster's service was started in this call.
  returned: always
  type: bool
  sample: true
moved_aside:
  description:
    - Where the old contents of O(data_dir) are kept, when a forced clone could not prove the new standby
      streams (O(start=false), O(wait_timeout=0)) or failed to stream. Absent when they were deleted.
  returned: when kept
  type: str
  sample: /var/lib/postgresql/17/main.before-clone-20261126T210000
commands:
  description: Commands run (or that would run in check mode), passwords redacted.
  returned: always
  type: list
  elements: str
  sample: ["/usr/lib/postgresql/17/bin/pg_basebackup -h node1 -p 5432 -U replicator -D /var/lib/postgresql/17/main -R -X stream -S node2 --checkpoint=fast -w"]
receiver_status:
  description: C(pg_stat_wal_receiver.status) seen last (C(null) when not checked).
  returned: always
  type: str
  sample: streaming
primary_conninfo:
  description: The standby's C(primary_conninfo), password redacted.
  returned: always
  type: str
  sample: host=node1 port=5432 user=replicator passfile=/var/lib/postgresql/.pgpass application_name=node2
rewound:
  description: Whether C(pg_rewind) ran in this call (or would have, in check mode).
  returned: always
  type: bool
  sample: false
repointed:
  description: Whether an existing standby was pointed at O(primary_host) in this call.
  returned: always
  type: bool
  sample: true
slot_name:
  description: The slot the standby streams through.
  returned: always
  type: str
  sample: node2
"""

import datetime
import os
import pwd
import shlex
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.otus.pgrepl.plugins.module_utils.pg_clone import (
    AUTO_CONF,
    STANDBY_SIGNAL,
    build_conninfo,
    describe,
    has_tls_settings,
    inside_root,
    inspect_data_dir,
    is_standby_of,
    merge_pgpass,
    redact_conninfo,
    render_auto_conf,
    write_file,
)
from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import (
    DATA_ROOT,
    debian_layout,
    is_valid_slot_name,
)


class StandbyClone:
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

    # -- helpers -------------------------------------------------------------
    def as_owner(self, argv):
        if os.geteuid() == 0 and self.owner.pw_uid != 0:
            return ["runuser", "-u", self.owner.pw_name, "--", *argv]
        return list(argv)

    def run(self, argv, record=True, **kwargs):
        if record:
            self.commands.append(" ".join(shlex.quote(a) for a in argv))
        return self.module.run_command(argv, **kwargs)

    def tls(self):
        """The TLS settings every connection to the primary carries (libpq's default, prefer, is left out)."""
        p = self.p
        params = {} if p["ssl_mode"] == "prefer" else {"sslmode": p["ssl_mode"]}
        if p["ssl_root_cert"]:
            params["sslrootcert"] = p["ssl_root_cert"]
        return params

    def conninfo(self):
        p = self.p
        return build_conninfo(
            {
                "host": p["primary_host"],
                "port": p["primary_port"],
                "user": p["primary_user"],
                "passfile": self.passfile,
                "application_name": self.application_name,
                **self.tls(),
            }
        )

    def basebackup_argv(self):
        p = self.p
        return [
            os.path.join(self.bin_dir, "pg_basebackup"),
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

    def chown(self, path):
        os.chown(path, self.owner.pw_uid, self.owner.pw_gid)

    def empty_dir(self, path):
        for entry in os.listdir(path):
            full = os.path.join(path, entry)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)

    # -- steps ---------------------------------------------------------------
    def ensure_passfile(self):
        """Write the passfile line; True when the file changed."""
        password = self.p["primary_password"]
        if password is None:
            return False
        existing = ""
        if os.path.exists(self.passfile):
            with open(self.passfile) as handle:
                existing = handle.read()
        wanted = merge_pgpass(
            existing, self.p["primary_host"], self.p["primary_port"], self.p["primary_user"], password
        )
        stat = os.stat(self.passfile) if os.path.exists(self.passfile) else None
        right_mode = stat is not None and (stat.st_mode & 0o777) == 0o600 and stat.st_uid == self.owner.pw_uid
        if wanted == existing and right_mode:
            return False
        if not self.module.check_mode:
            write_file(self.passfile, wanted, self.owner.pw_uid, self.owner.pw_gid)
        return True

    def is_active(self):
        rc, out, dummy = self.run(["systemctl", "is-active", self.service], record=False)
        return rc == 0 and out.strip() == "active"

    def start(self):
        rc, out, err = self.run(["systemctl", "start", self.service])
        if rc != 0:
            self.module.fail_json(
                msg=f"could not start {self.service}: {(err or out).strip()}; {self.last_errors()}",
                **self.result,
            )
        self.result["started"] = True
        self.result["changed"] = True

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

    def last_errors(self, lines=5):
        if not os.path.isfile(self.log_file):
            return f"no server log at {self.log_file}"
        with open(self.log_file, errors="replace") as handle:
            tail = handle.readlines()[-200:]
        picked = [line.strip() for line in tail if "FATAL" in line or "ERROR" in line]
        if not picked:
            return f"no error in the last lines of {self.log_file}"
        return "last errors in the server log: " + " | ".join(picked[-lines:])

    def wait_streaming(self):
        timeout = self.p["wait_timeout"]
        if timeout <= 0 or self.module.check_mode:
            return
        deadline = time.monotonic() + timeout
        status = None
        while True:
            status = self.receiver_status()
            self.result["receiver_status"] = status or None
            if status == "streaming":
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(1)
        self.module.fail_json(
            msg=(
                f"the standby in {self.p['data_dir']} did not reach 'streaming' from "
                f"{self.p['primary_host']}:{self.p['primary_port']} through slot {self.p['slot_name']} "
                f"within {timeout}s (pg_stat_wal_receiver.status: {status or 'no receiver'}); "
                + self.last_errors()
                + self.lost_slot_hint()
                + (
                    f". The old contents of the directory are kept in {self.result['moved_aside']}"
                    if self.result.get("moved_aside")
                    else ""
                )
            ),
            **self.result,
        )

    def write_standby_settings(self):
        auto = os.path.join(self.p["data_dir"], AUTO_CONF)
        original = ""
        if os.path.exists(auto):
            with open(auto) as handle:
                original = handle.read()
        # pg_basebackup -R copies the connection it used, which may carry the
        # password read from the passfile: replace it with our own conninfo.
        text = render_auto_conf(
            original,
            {"primary_conninfo": self.conninfo(), "primary_slot_name": self.p["slot_name"]},
        )
        write_file(auto, text, self.owner.pw_uid, self.owner.pw_gid)
        signal = os.path.join(self.p["data_dir"], STANDBY_SIGNAL)
        if not os.path.isfile(signal) or os.path.islink(signal):
            write_file(signal, "", self.owner.pw_uid, self.owner.pw_gid)

    def source_server(self):
        p = self.p
        return build_conninfo(
            {
                "host": p["primary_host"],
                "port": p["primary_port"],
                "user": p["primary_user"],
                "dbname": "postgres",
                "passfile": self.passfile,
                **self.tls(),
            }
        )

    def rewind_argv(self):
        return [
            os.path.join(self.bin_dir, "pg_rewind"),
            "--target-pgdata",
            self.p["data_dir"],
            "--source-server",
            self.source_server(),
            "--progress",
        ] + (["--config-file", self.config_file] if os.path.isfile(self.config_file) else [])

    def stop(self):
        rc, out, err = self.run(["systemctl", "stop", self.service])
        if rc != 0:
            self.module.fail_json(msg=f"could not stop {self.service}: {(err or out).strip()}", **self.result)

    def repoint(self):
        """A running standby of another source follows primary_host after a reload; True when it streams."""
        self.result.update(changed=True, repointed=True)
        if self.module.check_mode:
            self.commands.append(
                f"set primary_conninfo and primary_slot_name; systemctl reload {self.service}"
            )
            return True
        self.ensure_passfile()
        self.write_standby_settings()
        self.run(["systemctl", "reload", self.service])
        if self.p["wait_timeout"] <= 0:
            return True
        deadline = time.monotonic() + self.p["wait_timeout"]
        while time.monotonic() < deadline:
            if self.receiver_status() == "streaming" and self.receiver_source() == self.p["primary_host"]:
                return True
            time.sleep(1)
        return False

    def refresh_tls(self):
        """New TLS settings in primary_conninfo; a running standby reconnects after a reload."""
        self.result["changed"] = True
        running = self.is_active()
        self.commands.append(
            "set primary_conninfo (TLS settings)" + (f"; systemctl reload {self.service}" if running else "")
        )
        if self.module.check_mode:
            return
        self.write_standby_settings()
        if running:
            self.run(["systemctl", "reload", self.service], record=False)

    def receiver_source(self):
        return self.local_query("SELECT sender_host FROM pg_stat_wal_receiver")

    def rewind(self, state):
        """Stop the cluster, pg_rewind it from primary_host, make it a standby and start it."""
        argv = self.as_owner(self.rewind_argv())
        self.result.update(changed=True, rewound=True)
        if self.module.check_mode:
            self.commands.append(f"systemctl stop {self.service}")
            self.commands.append(" ".join(shlex.quote(a) for a in argv))
            if self.p["start"]:
                self.commands.append(f"systemctl start {self.service}")
            return
        self.ensure_passfile()
        if self.is_active():
            self.stop()
        rc, out, err = self.run(argv, environ_update={"PGPASSFILE": self.passfile})
        if rc != 0:
            if self.p["force"]:
                self.result["rewound"] = False
                self.commands.append(f"pg_rewind failed (rc={rc}): clone again (force=true)")
                self.clone(inspect_data_dir(self.p["data_dir"]))
                return
            self.module.fail_json(
                msg=(
                    f"pg_rewind from {self.p['primary_host']} failed (rc={rc}); the cluster in {self.p['data_dir']} "
                    f"is stopped and was not otherwise changed: {(err or out).strip()[-600:]}. "
                    "Set force=true to clone it again instead (its contents are replaced)."
                ),
                stderr=err,
                rc=rc,
                **self.result,
            )
        # pg_rewind copied the source's postgresql.auto.conf: point it back at the primary, as a standby.
        self.write_standby_settings()
        if self.p["start"]:
            self.start()

    def rejoin(self, state):
        if state["standby_signal"] and self.is_active():
            if self.repoint():
                return
            self.commands.append("not streaming after the reload: rewind")
        self.rewind(state)

    def read_slot(self):
        """(rc, out, err) of READ_REPLICATION_SLOT for our slot on the primary (out: type|restart_lsn|tli)."""
        p = self.p
        conninfo = build_conninfo(
            {
                "host": p["primary_host"],
                "port": p["primary_port"],
                "user": p["primary_user"],
                "dbname": "replication",
                "replication": "true",
                "passfile": self.passfile,
                "connect_timeout": 10,
                **self.tls(),
            }
        )
        return self.run(self.psql(["-d", conninfo], f"READ_REPLICATION_SLOT {p['slot_name']}"), record=False)

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
            f". The primary's slot {self.p['slot_name']} holds no WAL (invalidated by max_slot_wal_keep_size: "
            "wal_status 'lost'): this standby needs the WAL it missed from an archive (restore_command; "
            "otus.pgrepl.site points it at Barman's) and a new slot (otus.pgrepl.postgresql_primary drops and "
            "recreates a lost one, WAL reserved). Its data is kept: it is not cloned again"
        )

    def probe_primary(self):
        """Fail, changing nothing on this host, unless the primary answers and holds the slot."""
        p = self.p
        rc, out, err = self.read_slot()
        where = f"{p['primary_host']}:{p['primary_port']}"
        if rc != 0:
            self.module.fail_json(
                msg=(
                    f"the primary {where} does not answer a replication connection as {p['primary_user']} "
                    f"(rc={rc}): {(err or out).strip()[-400:]}. Nothing was changed in {p['data_dir']}."
                ),
                **self.result,
            )
        slot_type = (out.strip().splitlines() or [""])[0].split("|")[0]
        if slot_type != "physical":
            self.module.fail_json(
                msg=(
                    f"the primary {where} has no physical replication slot {p['slot_name']} "
                    f"(READ_REPLICATION_SLOT: {out.strip() or 'empty'}). Create it first "
                    f"(the postgresql_primary role does); nothing was changed in {p['data_dir']}."
                ),
                **self.result,
            )

    def make_empty_dir(self, data_dir):
        parent = os.path.dirname(os.path.normpath(data_dir))
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
            self.chown(parent)
        if not os.path.isdir(data_dir):
            os.mkdir(data_dir, 0o700)
        os.chmod(data_dir, 0o700)
        self.chown(data_dir)

    def put_back(self, data_dir, aside, was_active):
        """Undo a clone that failed: the half-written copy goes, the old directory returns."""
        if aside is None:
            self.empty_dir(data_dir)
            return f"{data_dir} was emptied again"
        shutil.rmtree(data_dir, ignore_errors=True)
        os.rename(aside, data_dir)
        self.commands.append(f"mv {aside} {data_dir}")
        if was_active:
            self.run(["systemctl", "start", self.service])
        return f"the old {data_dir} was put back as it was" + (" and started again" if was_active else "")

    def clone(self, state):
        data_dir = self.p["data_dir"]
        argv = self.as_owner(self.basebackup_argv())
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")  # noqa: UP017
        aside = None if state["empty"] else f"{data_dir}.before-clone-{stamp}"
        if self.module.check_mode:
            if aside:
                self.commands.append(f"systemctl stop {self.service}")
                self.commands.append(f"mv {data_dir} {aside}")
            self.commands.append(" ".join(shlex.quote(a) for a in argv))
            if self.p["start"]:
                self.commands.append(f"systemctl start {self.service}")
            if aside:
                self.commands.append(f"rm -r {aside} (once the standby streams)")
            self.result.update(changed=True, cloned=True)
            return
        self.ensure_passfile()
        self.probe_primary()
        was_active = False
        if aside:
            was_active = self.is_active()
            self.stop()
            os.rename(data_dir, aside)
            self.commands.append(f"mv {data_dir} {aside}")
            self.result["moved_aside"] = aside
        self.make_empty_dir(data_dir)
        env = {"PGPASSFILE": self.passfile, "PGAPPNAME": self.application_name}
        env.update({f"PG{k.upper()}": v for k, v in self.tls().items()})
        rc, out, err = self.run(argv, environ_update=env)
        if rc != 0:
            undone = self.put_back(data_dir, aside, was_active)
            self.result.pop("moved_aside", None)
            self.module.fail_json(
                msg=f"pg_basebackup failed (rc={rc}); {undone}: {err.strip() or out.strip()}",
                stderr=err,
                rc=rc,
                **self.result,
            )
        self.write_standby_settings()
        self.result.update(changed=True, cloned=True)
        if self.p["start"]:
            self.start()

    def drop_moved_aside(self):
        """The old directory goes once the new standby streamed; kept (and said) otherwise."""
        aside = self.result.get("moved_aside")
        if not aside:
            return
        if self.p["start"] and self.p["wait_timeout"] > 0 and self.result["receiver_status"] == "streaming":
            shutil.rmtree(aside)
            self.commands.append(f"rm -r {aside} (the new standby streams)")
            del self.result["moved_aside"]
        else:
            self.module.warn(
                f"the old contents of {self.p['data_dir']} are kept in {aside}: "
                "delete that directory once the standby streams"
            )

    def __call__(self):
        p = self.p
        state = inspect_data_dir(p["data_dir"])
        if is_standby_of(state, p["primary_host"], p["primary_port"], p["primary_user"], p["slot_name"]):
            if self.ensure_passfile():
                self.result["changed"] = True
                self.commands.append(f"update {self.passfile}")
            if not has_tls_settings(state, self.tls()):
                self.refresh_tls()
            if p["start"] and not self.is_active():
                if self.module.check_mode:
                    self.commands.append(f"systemctl start {self.service}")
                    self.result["changed"] = True
                else:
                    self.start()
        elif p["rejoin"] and state["pg_version"]:
            self.rejoin(state)
        elif not state["empty"] and not p["force"]:
            self.module.fail_json(
                msg=(
                    f"refusing to clone into {p['data_dir']}: the directory is not empty and "
                    f"{describe(state)}. Nothing was changed. Empty it yourself, or set force=true "
                    "to stop the cluster and replace its contents."
                ),
                **self.result,
            )
        else:
            self.clone(state)
        if p["start"]:
            self.wait_streaming()
        if not self.module.check_mode:
            self.drop_moved_aside()
        current = inspect_data_dir(p["data_dir"])
        conninfo = current["primary_conninfo"] or (self.conninfo() if self.module.check_mode else None)
        self.result["primary_conninfo"] = redact_conninfo(conninfo) if conninfo else None
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(
        argument_spec={
            "primary_host": {"type": "str", "required": True},
            "primary_port": {"type": "int", "default": 5432},
            "primary_user": {"type": "str", "default": "replicator"},
            "primary_password": {"type": "str", "no_log": True},
            "passfile": {"type": "path"},
            "slot_name": {"type": "str", "required": True},
            "application_name": {"type": "str"},
            "data_dir": {"type": "path", "required": True},
            "data_root": {"type": "path", "default": DATA_ROOT},
            "version": {"type": "int", "default": 17},
            "cluster": {"type": "str", "default": "main"},
            "bin_dir": {"type": "path"},
            "service": {"type": "str"},
            "port": {"type": "int", "default": 5432},
            "socket_dir": {"type": "path", "default": "/var/run/postgresql"},
            "log_file": {"type": "path"},
            "config_file": {"type": "path"},
            "owner": {"type": "str", "default": "postgres"},
            "force": {"type": "bool", "default": False},
            "rejoin": {"type": "bool", "default": False},
            "start": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 120},
            "ssl_mode": {
                "type": "str",
                "default": "prefer",
                "choices": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
            },
            "ssl_root_cert": {"type": "path"},
        },
        supports_check_mode=True,
    )
    if not is_valid_slot_name(module.params["slot_name"]):
        module.fail_json(
            msg=(
                f"slot_name={module.params['slot_name']!r} is not a valid replication slot name: "
                "use 1 to 63 lower-case letters, digits or underscores"
            )
        )
    if module.params["ssl_mode"] in ("verify-ca", "verify-full") and not module.params["ssl_root_cert"]:
        module.fail_json(
            msg=f"ssl_mode={module.params['ssl_mode']} checks the primary's certificate: give ssl_root_cert (the CA)"
        )
    if module.params["wait_timeout"] < 0:
        module.fail_json(msg="wait_timeout must be 0 (do not wait) or a positive number of seconds")
    if not inside_root(module.params["data_dir"], module.params["data_root"]):
        module.fail_json(
            msg=(
                f"data_dir={module.params['data_dir']!r} resolves to {os.path.realpath(module.params['data_dir'])!r}, "
                f"which is not inside data_root={module.params['data_root']!r}: refusing to touch it. "
                "Fix the cluster name or data directory (or data_root)."
            )
        )
    StandbyClone(module)()


if __name__ == "__main__":
    main()
