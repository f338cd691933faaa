#!/usr/bin/python
# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
module: checks
short_description: Many asserts in one task, each with its own message
version_added: 0.1.0
author: otus.pgrepl developers (!UNKNOWN)
description:
  - Evaluates a list of checks in order on the controller, like M(ansible.builtin.assert) with one message
    per condition, and fails with the message of the first check that does not hold. The checks after it
    are not evaluated.
  - A check runs only when the checks before it passed, so its condition and message may rely on what an
    earlier check made sure of. The message of every check that runs is rendered, whether it holds or not
    (as M(ansible.builtin.assert) renders its C(fail_msg)), so a message that cannot be rendered shows on a
    run that passes.
  - The roles' preflights use it, one task per role instead of one per check, which takes seconds off
    every run (each task costs a round of the strategy on every host).
  - Needs ansible-core 2.19 or later.
options:
  checks:
    description: The checks, in the order they are evaluated.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: What the check makes sure of; returned as RV(check) when it fails.
        type: str
      that:
        description: A condition, or a list of conditions that must all hold (as in M(ansible.builtin.assert)).
        type: raw
        required: true
      msg:
        description: The message to fail with (a template).
        type: str
        required: true
      when:
        description: A condition (or list); the check is skipped unless it holds.
        type: raw
      loop:
        description:
          - A list (or a template giving one); the check must hold for each element, bound to C(item).
          - O(checks[].when) is evaluated once, before the loop.
        type: raw
attributes:
  check_mode:
    support: full
    description: Evaluates in check mode as in a normal run; it changes nothing.
  diff_mode:
    support: none
    description: Reports no diff.
  action:
    support: full
    description: Runs on the controller as an action plugin.
seealso:
  - module: ansible.builtin.assert
"""

EXAMPLES = r"""
- name: Check the inventory before any host is changed
  otus.pgrepl.checks:
    checks:
      - name: Exactly one primary
        that: groups['postgresql_primary'] | length == 1
        msg: "The group postgresql_primary must hold one host; it holds {{ groups['postgresql_primary'] | length }}."
      - name: Plain role names
        that: item is match('^[a-z_][a-z0-9_]{0,62}$')
        msg: "{{ item }} is not a plain role name."
        loop: "{{ [postgresql_replication_user, postgresql_barman_user] }}"
      - name: Barman's password when there is a Barman host
        that: postgresql_barman_password | length > 0
        msg: Set postgresql_barman_password.
        when: groups.get('barman', []) | length > 0
"""

RETURN = r"""
msg:
  description: The failed check's message, or how many checks passed and how many were skipped.
  returned: always
  type: str
  sample: 12 checks passed, 1 skipped
check:
  description: The name of the check that failed (C(checks[N]) when it has none).
  returned: failed
  type: str
  sample: Exactly one primary
"""
