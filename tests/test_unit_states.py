"""otus.pgrepl.unit_states: systemctl show's blocks, one per unit, as a dictionary."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otus.pgrepl.plugins.filter.systemd import unit_states

# As systemctl 257 prints it for a running timer, a disabled one and a unit with no file.
SHOWN = """Id=otus-barman-cron.timer
ActiveState=active
UnitFileState=enabled

Id=otus-barman-backup@node1.timer
ActiveState=inactive
UnitFileState=disabled

Id=nothere.timer
ActiveState=inactive
UnitFileState=
"""


def test_each_unit_says_whether_it_runs_and_starts_at_boot() -> None:
    assert unit_states(SHOWN) == {
        "otus-barman-cron.timer": {"active": "active", "enabled": "enabled"},
        "otus-barman-backup@node1.timer": {"active": "inactive", "enabled": "disabled"},
        "nothere.timer": {"active": "inactive", "enabled": ""},
    }


def test_nothing_shown_is_no_unit_and_other_input_is_refused() -> None:
    assert unit_states("") == {}
    with pytest.raises(AnsibleFilterError, match="systemctl show"):
        unit_states(None)
