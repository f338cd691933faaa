# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""pg_hba.conf addresses read as networks, not as strings."""

from __future__ import annotations

import ipaddress

# The widest network one extra pg_hba line may name, per IP version: 10.0.0.0/8 passes, 0.0.0.0/1
# (half of every address, and with 128.0.0.0/1 all of them) does not.
WIDEST_PREFIX = {4: 8, 6: 32}
# Words pg_hba.conf reads as every address.
EVERY_ADDRESS = ("all",)


def hba_network(address):
    """The network an address field names, or None for a host name, samehost, samenet or a .domain suffix.

    A bare address is the host alone (/32, /128), as PostgreSQL reads it with a netmask field of all ones.
    """
    try:
        return ipaddress.ip_network(str(address).strip(), strict=False)
    except ValueError:
        return None


def too_wide(address, widest=None):
    """True when an address field lets in more than the widest network allowed (or every address)."""
    widest = widest or WIDEST_PREFIX
    if str(address).strip().lower() in EVERY_ADDRESS:
        return True
    network = hba_network(address)
    return network is not None and network.prefixlen < widest[network.version]
