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
    The passfile and C(postgresql.auto.conf) are read without following a link, and a symbolic link in either place
    is refused (before any change when it is there at the start), so no other file's lines reach them.
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

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.otus.pgrepl.plugins.module_utils.pg_clone import (
    AUTO_CONF,
    LinkRefused,
    describe,
    has_tls_settings,
    inside_root,
    inspect_data_dir,
    is_standby_of,
    link_refused_message,
    redact_conninfo,
)
from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import DATA_ROOT, is_valid_slot_name
from ansible_collections.otus.pgrepl.plugins.module_utils.standby_clone import StandbyCloner
from ansible_collections.otus.pgrepl.plugins.module_utils.standby_host import StandbyHost
from ansible_collections.otus.pgrepl.plugins.module_utils.standby_link import PrimaryLink
from ansible_collections.otus.pgrepl.plugins.module_utils.standby_rejoin import StandbyRejoin


def keep_standby(host, link, state):
    """Already the wanted standby: only the passfile, TLS settings and a stopped service are put right."""
    if link.ensure_passfile():
        host.result["changed"] = True
        host.commands.append(f"update {host.passfile}")
    if not has_tls_settings(state, link.tls()):
        link.refresh_tls()
    if host.p["start"] and not host.is_active():
        if host.module.check_mode:
            host.commands.append(f"systemctl start {host.service}")
            host.result["changed"] = True
        else:
            host.start()


def converge(module):
    p = module.params
    host = StandbyHost(module)
    # Refused before any change; a link planted later is refused where it is read.
    for path in (host.passfile, os.path.join(p["data_dir"], AUTO_CONF)):
        if os.path.islink(path):
            host.fail(link_refused_message(path) + " Nothing was changed.")
    try:
        _converge(module, host)
    except LinkRefused as exc:
        host.fail(link_refused_message(str(exc)))


def _converge(module, host):
    p = module.params
    link = PrimaryLink(host)
    cloner = StandbyCloner(host, link)
    state = inspect_data_dir(p["data_dir"])
    if is_standby_of(state, p["primary_host"], p["primary_port"], p["primary_user"], p["slot_name"]):
        keep_standby(host, link, state)
    elif p["rejoin"] and state["pg_version"]:
        StandbyRejoin(host, link, cloner).rejoin(state)
    elif not state["empty"] and not p["force"]:
        host.fail(
            f"refusing to clone into {p['data_dir']}: the directory is not empty and "
            f"{describe(state)}. Nothing was changed. Empty it yourself, or set force=true "
            "to stop the cluster and replace its contents."
        )
    else:
        cloner.clone(state)
    if p["start"]:
        link.wait_streaming()
    if not module.check_mode:
        cloner.drop_moved_aside()
    current = inspect_data_dir(p["data_dir"])
    conninfo = current["primary_conninfo"] or (link.conninfo() if module.check_mode else None)
    host.result["primary_conninfo"] = redact_conninfo(conninfo) if conninfo else None
    module.exit_json(**host.result)


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
    converge(module)


if __name__ == "__main__":
    main()
