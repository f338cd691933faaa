"""pg_hba addresses are read as networks: an extra line may not let in more than one wide network."""

from __future__ import annotations

import pytest

from ansible_collections.otus.pgrepl.plugins.filter.hba import FilterModule

too_wide = FilterModule().filters()["hba_too_wide"]


@pytest.mark.parametrize(
    "address",
    ["all", "ALL", "0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/7", "::/0", "::/1", "2001:db8::/31"],
)
def test_wider_than_one_wide_network_is_too_wide(address):
    assert too_wide(address) is True


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.0/8",
        "192.168.1.0/24",
        "10.0.0.5",
        "10.0.0.5/32",
        "2001:db8::/32",
        "::1/128",
        "samehost",
        "samenet",
        "db.example.com",
        ".example.com",
    ],
)
def test_networks_and_names_within_bounds_pass(address):
    assert too_wide(address) is False
