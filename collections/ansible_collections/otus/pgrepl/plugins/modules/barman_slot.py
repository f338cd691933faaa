#!/usr/bin/python
# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
module: barman_slot
short_description: Make sure a Barman server's replication slot exists and its WAL streams
version_added: 0.1.0
author: otus.pgrepl developers (!UNKNOWN)
description:
  - Runs on the Barman host. With O(state=present) it creates the physical replication slot that
    Barman's C(slot_name) setting names on the PostgreSQL server (C(barman receive-wal --create-slot)),
    once, and makes sure C(receive-wal) runs (started through O(start_command), by default
    C(barman cron)); with O(wait=true) it waits until the slot is active.
  - A second run with the slot there and C(receive-wal) running changes nothing.
  - With O(state=absent) it stops C(receive-wal) (C(barman receive-wal --stop)) and then drops the slot
    (C(barman receive-wal --drop-slot)).
  - With O(reset_on_divergence=true), when C(receive-wal) cannot start or does not stream through the slot
    within O(wait_timeout), it looks for the one cause a C(barman receive-wal --reset) cures - after a
    failover Barman streamed the old primary's timeline past the point where the new primary's history
    left it, so C(pg_receivewal) asks for WAL the new primary never had. Only when that is proven
    (Barman's newest WAL in its C(streaming) directory, or else in its archive, is on an older timeline
    of the primary's history and past its switch point in the primary's timeline history, read with
    C(IDENTIFY_SYSTEM) and C(TIMELINE_HISTORY) over Barman's streaming conninfo) it stops C(receive-wal),
    resets it to the primary's current WAL file, starts it again and waits; the result then names the
    WAL range missing from Barman's archive (RV(wal_gap), RV(gap_report), also a warning). Otherwise it
    fails with Barman's checks and the diagnosis, and resets nothing.
  - A slot PostgreSQL invalidated (C(wal_status) C(lost) or an C(invalidation_reason) in
    C(pg_replication_slots), read through Barman's C(conninfo)) holds no WAL for Barman. The module then
    fails at once, changes nothing, and says how to bring streaming back (a new slot,
    C(barman receive-wal --reset), and a new full backup, as the archive has a gap).
  - Reads the state with C(barman -f json show-servers) and C(barman -f json check); every barman command
    runs as O(barman_user).
options:
  server:
    description: Name of the server in Barman's configuration (the section name in C(/etc/barman.d)).
    type: str
    required: true
  slot_name:
    description:
      - The slot the server's Barman configuration must name. The module fails when C(slot_name) in
        Barman's configuration differs, rather than managing a slot Barman does not use.
      - Leave it out to take whatever Barman's configuration says.
    type: str
  state:
    description: Whether the slot (and the WAL streaming through it) should exist.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: With O(state=present), wait until the slot is active and C(receive-wal) runs.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait when O(wait=true).
    type: int
    default: 120
  start_command:
    description:
      - Command that starts C(receive-wal) when it is not running. C(barman cron) starts it; a systemd
        service that runs C(barman cron) keeps it in that service.
    type: list
    elements: str
    default: [barman, cron]
  stop_command:
    description:
      - Command that stops C(receive-wal) before a reset or a slot drop. Empty (the default) runs
        C(barman receive-wal --stop); a systemd unit that restarts C(receive-wal) when it dies must be
        stopped through systemd instead (e.g. C([systemctl, stop, otus-barman-receive-wal@node1.service])).
    type: list
    elements: str
    default: []
  reset_on_divergence:
    description:
      - With O(state=present), when C(receive-wal) cannot start or does not stream through the slot within
        O(wait_timeout), diagnose why and run C(barman receive-wal --reset) when, and only when, the cause
        is a proven timeline divergence (see the description). The reset leaves WAL of the primary's
        history out of Barman's archive (RV(wal_gap) names it), and point-in-time recovery into it is
        impossible; take a base backup right after.
      - Needs O(wait=true). In check mode the diagnosis (read-only) runs when the slot is not active or
        C(receive-wal) is not running, and the reset is only reported in RV(commands).
    type: bool
    default: false
extends_documentation_fragment:
  - otus.pgrepl.barman
attributes:
  check_mode:
    support: full
    description:
      - Reads the state (read-only barman commands) and reports what it would do.
      - With O(reset_on_divergence=true) also reads the primary's position and timeline history (read-only)
        and reports a reset it would make in RV(commands), RV(reset) and RV(wal_gap).
  diff_mode:
    support: none
    description: Reports no diff.
seealso:
  - name: barman receive-wal
    description: Barman's command that runs pg_receivewal for a server.
    link: https://docs.pgbarman.org/release/latest/user_guide/commands.html
  - module: otus.pgrepl.pg_standby_clone
"""

EXAMPLES = r"""
- name: Stream node1's WAL to Barman through slot "barman"
  otus.pgrepl.barman_slot:
    server: node1
    slot_name: barman
    start_command: [systemctl, start, otus-barman-cron.service]
  become: true

- name: Stream from the primary after a failover; reset receive-wal only on a proven timeline divergence
  otus.pgrepl.barman_slot:
    server: node1
    start_command: [systemctl, start, otus-barman-cron.service]
    reset_on_divergence: true
  become: true
  register: barman_stream

- name: Say which WAL the reset left out of the archive
  ansible.builtin.debug:
    msg: "{{ barman_stream.gap_report }}"
  when: barman_stream.reset

- name: Stop streaming and drop the slot (after taking the server out of Barman's schedule)
  otus.pgrepl.barman_slot:
    server: node1
    state: absent
  become: true
"""

RETURN = r"""
slot:
  description: The slot as Barman sees it after the call (C(null) when there is none).
  returned: always
  type: dict
  contains:
    name:
      description: Slot name.
      type: str
      sample: barman
    active:
      description: Whether a WAL receiver is connected through it.
      type: bool
      sample: true
    restart_lsn:
      description: Oldest WAL the slot keeps on the server.
      type: str
      sample: 0/3000000
  sample: {"name": "barman", "active": true, "restart_lsn": "0/3000000"}
checks:
  description:
    - The last C(barman check) of the server that the call ran, by check name, each with its C(status) and
      C(hint).
    - A call that changed nothing and saw every line OK has checked the server already; a gate after it
      need not ask again.
  returned: always
  type: dict
  sample: {"replication_slot": {"status": "OK", "hint": ""}, "receive_wal_running": {"status": "OK", "hint": ""}}
receive_wal_running:
  description: Whether Barman's C(receive-wal) process runs for the server.
  returned: always
  type: bool
  sample: true
created:
  description: Whether the slot was created (or would be, in check mode).
  returned: always
  type: bool
dropped:
  description: Whether the slot was dropped (or would be, in check mode).
  returned: always
  type: bool
commands:
  description: The barman commands that changed something (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["runuser -u barman -- barman receive-wal --create-slot node1", "runuser -u barman -- barman cron"]
reset:
  description:
    - Whether C(barman receive-wal --reset) ran (or would, in check mode) because of a proven timeline
      divergence (O(reset_on_divergence=true)).
  returned: always
  type: bool
  sample: false
divergence:
  description: The diagnosis made with O(reset_on_divergence=true) (C(null) when none was needed).
  returned: always
  type: dict
  contains:
    proven:
      description: Whether Barman's stream is proven to have left the primary's history.
      type: bool
    reason:
      description: Why it is proven or not, in words.
      type: str
    barman:
      description:
        - Where C(pg_receivewal) continues from (C(null) when Barman holds no WAL of the server);
          C(wal) is the newest file, C(source) C(streaming) or C(archive).
      type: dict
      sample: {"timeline": 16, "lsn": "0/5B000000", "wal": "00000010000000000000005B.partial", "source": "streaming"}
    primary:
      description: The primary's IDENTIFY_SYSTEM (C(null) when it could not be read).
      type: dict
      sample: {"systemid": "7712529950278327666", "timeline": 17, "lsn": "0/5A019CC0"}
    fork_lsn:
      description: Where the primary's history left Barman's timeline (C(null) when it never did or is unknown).
      type: str
      sample: 0/5A0000D8
    fork_timeline:
      description: The timeline the primary's history went on with at RV(divergence.fork_lsn).
      type: int
      sample: 17
wal_gap:
  description:
    - After a reset, the WAL of the primary's history missing from Barman's archive - from the fork to the
      start of the segment where streaming resumed (C(null) without a reset, or when nothing is missing).
    - C(timeline) is the timeline that began at the fork, C(timelines) all the range spans; C(to_wal) is
      the last missing segment.
  returned: always
  type: dict
  sample:
    timeline: 17
    timelines: [17]
    from_lsn: 0/5A0000D8
    to_lsn: 0/5C000000
    from_wal: 00000011000000000000005A
    to_wal: 00000011000000000000005B
gap_report:
  description:
    - After a reset, what it means, in words (also issued as a warning) - the WAL range not in Barman's
      archive, that point-in-time recovery into it is impossible, and that the earliest point reachable
      after it is the end of the next base backup.
  returned: always
  type: str
  sample: >-
    Server 'node1': WAL of timeline 17 from LSN 0/5A0000D8 to LSN 0/5C000000 (files
    00000011000000000000005A..00000011000000000000005B) is not in Barman's archive: ...
    the earliest point reachable after it is the end of the next base backup (take one now).
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import BARMAN_ARGUMENT_SPEC, BarmanError
from ansible_collections.otus.pgrepl.plugins.module_utils.barman_receive_wal import ReceiveWal
from ansible_collections.otus.pgrepl.plugins.module_utils.barman_slot_state import (
    absent,
    configured_state,
    present,
)
from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import is_valid_slot_name


def main():
    module = AnsibleModule(
        argument_spec={
            "server": {"type": "str", "required": True},
            "slot_name": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 120},
            "start_command": {"type": "list", "elements": "str", "default": ["barman", "cron"]},
            "stop_command": {"type": "list", "elements": "str", "default": []},
            "reset_on_divergence": {"type": "bool", "default": False},
            **BARMAN_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    slot_name = module.params["slot_name"]
    if slot_name is not None and not is_valid_slot_name(slot_name):
        module.fail_json(
            msg=f"slot_name={slot_name!r} is not a valid replication slot name: "
            "use 1 to 63 lower-case letters, digits or underscores"
        )
    if not module.params["start_command"]:
        module.fail_json(msg="start_command must not be empty")
    if module.params["wait_timeout"] < 0:
        module.fail_json(msg="wait_timeout must be 0 or more seconds")
    if module.params["reset_on_divergence"] and not module.params["wait"] and not module.check_mode:
        module.fail_json(
            msg="reset_on_divergence needs wait=true: it acts on a receive-wal that did not stream"
        )
    stream = ReceiveWal(module)
    try:
        server, slot, running = configured_state(stream)
        if module.params["state"] == "present":
            present(stream, server, slot, running)
        else:
            absent(stream, server, slot, running)
    except BarmanError as exc:
        stream.fail(f"server '{module.params['server']}': {exc}")
    module.exit_json(**stream.result)


if __name__ == "__main__":
    main()
