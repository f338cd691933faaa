# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""PostgreSQL identifier rules shared by the modules and filters."""

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
