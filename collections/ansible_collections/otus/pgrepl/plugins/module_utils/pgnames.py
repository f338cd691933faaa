# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""PostgreSQL identifier rules and Debian's cluster layout, shared by the modules, filters and tools."""

from __future__ import annotations

import re

# Replication slot names: lower-case letters, digits and underscores, at most
# NAMEDATALEN - 1 bytes (see ReplicationSlotValidateName in PostgreSQL).
SLOT_NAME_MAX = 63
_SLOT_RE = re.compile(r"^[a-z0-9_]{1,%d}$" % SLOT_NAME_MAX)


def is_valid_slot_name(name):
    """True when PostgreSQL accepts ``name`` as a replication slot name."""
    return isinstance(name, str) and bool(_SLOT_RE.match(name))


def slot_name_for(host):
    """A valid slot name derived from a host name: node-2.example -> node_2_example."""
    if not isinstance(host, str) or not host.strip():
        raise ValueError("a slot name needs a non-empty host name")
    name = re.sub(r"[^a-z0-9_]", "_", host.strip().lower())
    return name[:SLOT_NAME_MAX]


def slot_names(hosts, hostvars):
    """{host: the slot it streams through}: its postgresql_slot_name, else the name derived from the host."""
    return {host: hostvars[host].get("postgresql_slot_name") or slot_name_for(host) for host in hosts}


# The port when the inventory sets no postgresql_port (the postgresql role's default).
DEFAULT_PORT = 5432


def port_of(host, hostvars):
    """The port host's cluster listens on: its postgresql_port (inventory or extra vars), else the default.

    A role's default is not among another host's hostvars: falling back to this host's own port would
    give a host on another port the wrong one for its peers.
    """
    return int(hostvars[host].get("postgresql_port") or DEFAULT_PORT)


# Barman's slot when the inventory sets no barman_slot_name (the barman role's default).
BARMAN_SLOT = "barman"


def barman_slots(hosts, hostvars):
    """The slot each Barman host streams through: its barman_slot_name, else Barman's default."""
    return [hostvars[host].get("barman_slot_name") or BARMAN_SLOT for host in hosts]


# The root-owned folder of the fence files.
FENCE_DIR = "/var/lib/otus-pgrepl"
# Where Debian and Ubuntu keep every cluster's data (postgresql-common).
DATA_ROOT = "/var/lib/postgresql"


def debian_layout(version, cluster, data_root=DATA_ROOT):
    """Paths and unit of a cluster as postgresql-common lays it out (pg_createcluster), and its fence file."""
    version, cluster = str(version), str(cluster)
    conf_dir = f"/etc/postgresql/{version}/{cluster}"
    return {
        "conf_dir": conf_dir,
        "config_file": f"{conf_dir}/postgresql.conf",
        "data_dir": f"{data_root}/{version}/{cluster}",
        "bin_dir": f"/usr/lib/postgresql/{version}/bin",
        "service": f"postgresql@{version}-{cluster}",
        "log_file": f"/var/log/postgresql/postgresql-{version}-{cluster}.log",
        # Not Debian's: written by otus.pgrepl.failover on a primary it replaced; the cluster refuses to start
        # while it exists (fence-check.sh). Root's: postgres cannot remove it.
        "fence_file": f"{FENCE_DIR}/fenced-{version}-{cluster}",
    }
