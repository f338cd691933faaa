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

import os
import re
import shlex
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.otus.pgrepl.plugins.module_utils.barman_cli import (
    BARMAN_ARGUMENT_SPEC,
    BarmanCli,
    BarmanError,
    describe_checks,
    parse_slot_record,
    replication_conninfo,
)
from ansible_collections.otus.pgrepl.plugins.module_utils.pgnames import is_valid_slot_name
from ansible_collections.otus.pgrepl.plugins.module_utils.wal_position import (
    DEFAULT_SEGMENT_SIZE,
    WalError,
    diagnose_divergence,
    format_lsn,
    gap_report,
    newest_wal,
    parse_identify_system,
    parse_lsn,
    parse_timeline_history,
    parse_timeline_history_output,
    resume_position,
    segment_of,
    wal_gap,
    wal_name,
)

# The lines of barman check that say why WAL does not stream.
STREAMING_CHECKS = ("replication_slot", "receive_wal_running", "postgresql_streaming", "systemid_coherence")


class SlotManager:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.cli = BarmanCli(module, user=self.p["barman_user"], config=self.p["barman_config"])
        self.checks = {}
        self.result = {
            "changed": False,
            "created": False,
            "dropped": False,
            "slot": None,
            "receive_wal_running": False,
            "commands": self.cli.commands,
            "reset": False,
            "divergence": None,
            "wal_gap": None,
            "gap_report": None,
            "checks": {},
        }

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def read(self):
        """(server settings, slot, receive-wal running, checks)."""
        server = self.cli.server(self.p["server"])
        checks = self.cli.check(self.p["server"])
        self.checks = checks
        self.result["checks"] = checks
        slot = parse_slot_record(server.get("replication_slot"))
        running = checks.get("receive_wal_running", {}).get("status") == "OK"
        return server, slot, running, checks

    def would(self, *args):
        self.cli.commands.append(" ".join(shlex.quote(a) for a in self.cli.argv(*args)))
        self.result["changed"] = True

    def start_receive_wal(self):
        """Run start_command; the problem in words when it fails, else None."""
        argv = list(self.p["start_command"])
        if argv[:1] == ["barman"]:
            argv = self.cli.argv(*argv[1:])
        self.cli.commands.append(" ".join(shlex.quote(a) for a in argv))
        self.result["changed"] = True
        if self.module.check_mode:
            return None
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            return f"could not start receive-wal with {' '.join(argv)}: {(err or out).strip()}"
        return None

    def stop_receive_wal(self):
        """Stop receive-wal: stop_command first (a unit that would restart it), then barman's own --stop."""
        name = self.p["server"]
        self.result["changed"] = True
        if self.p["stop_command"]:
            argv = list(self.p["stop_command"])
            self.cli.commands.append(" ".join(shlex.quote(a) for a in argv))
            if not self.module.check_mode:
                rc, out, err = self.module.run_command(argv)
                if rc != 0:
                    self.fail(
                        f"could not stop receive-wal of '{name}' with {' '.join(argv)}: {(err or out).strip()}"
                    )
        # Also one that barman cron started outside any unit; none running is what we want.
        if self.module.check_mode:
            self.would("receive-wal", "--stop", name)
            return
        rc, out, err = self.cli.run("receive-wal", "--stop", name)
        if rc != 0 and "no such process" not in (out + err).lower():
            self.fail(f"barman could not stop receive-wal of '{name}' (rc={rc}): {(err or out).strip()}")

    def wait_streaming(self):
        """Wait until the slot is active and receive-wal runs; the problem in words on timeout, else None."""
        name = self.p["server"]
        deadline = time.monotonic() + self.p["wait_timeout"]
        while True:
            dummy, slot, running, checks = self.read()
            self.result.update(slot=slot, receive_wal_running=running)
            if slot and slot["active"] and running:
                return None
            if time.monotonic() >= deadline:
                return (
                    f"the slot of '{name}' did not become active within {self.p['wait_timeout']}s "
                    f"(slot: {slot}; receive-wal running: {running}); barman check says: "
                    + describe_checks({k: v for k, v in checks.items() if k in STREAMING_CHECKS})
                )
            time.sleep(1)

    def present(self, server, slot, running, checks):
        name = self.p["server"]
        if server.get("connection_error"):
            self.fail(
                f"Barman cannot reach the PostgreSQL server of '{name}': {server['connection_error']}. "
                "Check the host and port in its conninfo, pg_hba on the server, and the barman passfile."
            )
        if not server.get("streaming_archiver"):
            self.fail(
                f"server '{name}' has streaming_archiver off in Barman's configuration: turn it on to stream WAL"
            )
        if slot is None:
            if self.module.check_mode:
                self.would("receive-wal", "--create-slot", name)
            else:
                rc, out, err = self.cli.run("receive-wal", "--create-slot", name)
                text = (out + err).strip()
                if rc != 0 and "already exists" not in text:
                    self.fail(f"barman could not create the slot of '{name}' (rc={rc}): {text}")
                self.result["changed"] = True
            self.result["created"] = True
        if slot is not None and not (slot["active"] and running):
            lost = self.lost_slot(server, slot["name"])
            if lost:
                self.fail(lost)
        problem = None
        if not running:
            problem = self.start_receive_wal()
            if problem and not self.p["reset_on_divergence"]:
                self.fail(problem)
        if self.module.check_mode or not self.p["wait"]:
            self.result["slot"] = slot
            self.result["receive_wal_running"] = running
            if (
                self.module.check_mode
                and self.p["reset_on_divergence"]
                and not (slot and slot["active"] and running)
            ):
                self.diagnose_and_reset(server, None)
            return
        if problem is None:
            problem = self.wait_streaming()
        if problem is None:
            return
        if not self.p["reset_on_divergence"]:
            self.fail(problem)
        self.diagnose_and_reset(self.cli.server(name), problem)

    def lost_slot(self, server, slot_name):
        """Why the slot is of no use again when PostgreSQL invalidated it, else None.

        wal_status 'lost', or an invalidation_reason (PostgreSQL 17 lets a client attach to an invalidated
        physical slot again, which then shows 'unreserved' but holds no WAL for it). Read through Barman's
        conninfo (its user holds pg_monitor); no answer is not a verdict: None.
        """
        conninfo = server.get("conninfo")
        if not conninfo or not is_valid_slot_name(slot_name):
            return None
        # to_jsonb: invalidation_reason exists from PostgreSQL 17 on. The name is checked above, so quoting it is safe.
        query = (
            "SELECT s.wal_status, to_jsonb(s) ->> 'invalidation_reason' FROM pg_replication_slots s "
            f"WHERE s.slot_name = '{slot_name}'"
        )
        # A primary that accepts the connection and then stalls must not hang the run.
        argv = ["timeout", "30", *self.cli.as_user(["psql", "-XAtw", "-d", conninfo, "-c", query])]
        rc, out, dummy = self.module.run_command(argv, environ_update={"PGCONNECT_TIMEOUT": "10"})
        status, sep, reason = out.strip().partition("|")
        if rc != 0 or not (status == "lost" or reason):
            return None
        name = self.p["server"]
        stop = " ".join(self.p["stop_command"]) or f"barman receive-wal --stop {name}"
        return (
            f"Barman's slot {slot_name!r} on the primary of '{name}' is lost ({reason or 'invalidated'}): PostgreSQL "
            "removed WAL the slot held (max_slot_wal_keep_size), so the slot keeps nothing for Barman and "
            "Barman's archive has a gap. This task changed nothing. To stream again: stop barman cron's "
            f"schedule and receive-wal ({stop}), then as {self.p['barman_user']}: "
            f"barman receive-wal --drop-slot {name}; "
            f"barman receive-wal --create-slot {name}; barman receive-wal --reset {name}; run the site playbook "
            "again and take a new full backup (docs/troubleshooting.md)."
        )

    # Diagnosis of a receive-wal that cannot stream, and the reset it may call for.

    @staticmethod
    def listdir(path):
        try:
            return sorted(os.listdir(path)) if path else []
        except OSError:
            return []

    def barman_wal(self, server, segment_size):
        """The newest WAL file Barman holds for the server: (parsed file, 'streaming'|'archive') or (None, None).

        streaming/ is what pg_receivewal continues from; with nothing there, the newest archived segment.
        """
        wal = newest_wal(self.listdir(server.get("streaming_wals_directory")), segment_size)
        if wal:
            return wal, "streaming"
        wals = server.get("wals_directory")
        names = []
        for sub in self.listdir(wals):
            if re.fullmatch(r"[0-9A-F]{16}", sub):
                names += self.listdir(os.path.join(wals, sub))
        wal = newest_wal(names, segment_size)
        if wal:
            # Archived segments are complete (Barman archives no .partial file).
            return dict(wal, partial=False), "archive"
        return None, None

    def replication_query(self, server, command):
        """Run a replication command on the primary through Barman's streaming conninfo, as the barman user."""
        conninfo = server.get("wal_streaming_conninfo") or server.get("streaming_conninfo")
        if not conninfo:
            raise WalError("Barman's configuration of the server has no streaming_conninfo")
        argv = self.cli.as_user(["psql", "-XAtw", "-d", replication_conninfo(conninfo), "-c", command])
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            raise WalError(f"{command} on the primary failed (rc={rc}): {(err or out).strip()}")
        return out

    def diagnose(self, server):
        """Read-only: where Barman's stream continues, where the primary is and where its history forked.

        Returns the public diagnosis and the numbers the reset needs.
        """
        segment_size = int(server.get("xlog_segment_size") or DEFAULT_SEGMENT_SIZE)
        diag = {
            "proven": False,
            "reason": None,
            "barman": None,
            "primary": None,
            "fork_lsn": None,
            "fork_timeline": None,
        }
        inner = {
            "segment_size": segment_size,
            "history": None,
            "fork": None,
            "primary": None,
            "barman_tli": None,
        }
        wal, source = self.barman_wal(server, segment_size)
        if wal is not None:
            position = resume_position(wal)
            diag["barman"] = {
                "timeline": wal["timeline"],
                "lsn": format_lsn(position),
                "wal": wal["name"] + (".partial" if wal["partial"] else ""),
                "source": source,
            }
            inner["barman_tli"] = wal["timeline"]
        try:
            primary = parse_identify_system(self.replication_query(server, "IDENTIFY_SYSTEM"))
        except WalError as exc:
            diag["reason"] = f"could not read the primary's position: {exc}"
            return diag, inner
        inner["primary"] = primary
        diag["primary"] = {
            "systemid": primary["systemid"],
            "timeline": primary["timeline"],
            "lsn": format_lsn(primary["xlogpos"]),
        }
        if wal is None:
            diag["reason"] = (
                "Barman holds no WAL of the server (neither in streaming/ nor in its archive): "
                "there is no stream to diverge"
            )
            return diag, inner
        coherence = self.checks.get("systemid_coherence", {})
        if coherence.get("status") == "FAILED":
            diag["reason"] = (
                "barman check says the primary's system identifier is not the one Barman's archive belongs to "
                f"(systemid_coherence: FAILED{', ' + coherence['hint'] if coherence.get('hint') else ''}): "
                "its timelines say nothing about Barman's"
            )
            return diag, inner
        history = None
        history_problem = None
        if wal["timeline"] < primary["timeline"]:
            try:
                out = self.replication_query(server, f"TIMELINE_HISTORY {primary['timeline']}")
                history = parse_timeline_history(parse_timeline_history_output(out)[1])
            except WalError as exc:
                history_problem = str(exc)
        inner["history"] = history
        verdict = diagnose_divergence(wal["timeline"], position, primary["timeline"], history)
        diag.update(
            proven=verdict["proven"],
            reason=verdict["reason"] + (f" ({history_problem})" if history_problem else ""),
            fork_lsn=verdict["fork_lsn"],
            fork_timeline=verdict["fork_timeline"],
        )
        if verdict["fork_lsn"]:
            inner["fork"] = parse_lsn(verdict["fork_lsn"])
        return diag, inner

    @staticmethod
    def describe(diag):
        barman, primary = diag["barman"], diag["primary"]
        parts = [
            "Barman at "
            + (
                f"timeline {barman['timeline']} LSN {barman['lsn']} ({barman['wal']} in {barman['source']})"
                if barman
                else "no WAL"
            ),
            "primary at "
            + (f"timeline {primary['timeline']} LSN {primary['lsn']}" if primary else "an unknown position"),
            "fork at " + (diag["fork_lsn"] or "none known"),
        ]
        return f"{diag['reason']} [{'; '.join(parts)}]"

    def resume_point(self, server, inner, after_reset):
        """Where streaming resumes after the reset: (LSN, WAL file name).

        After a real reset: the newest file of the primary's timeline in streaming/ (the .partial Barman
        made). Otherwise what Barman's reset picks: the slot's restart_lsn, else the primary's position.
        """
        segment_size = inner["segment_size"]
        timeline = inner["primary"]["timeline"]
        if after_reset:
            names = self.listdir(server.get("streaming_wals_directory"))
            ours = [n for n in names if n[:8] == f"{timeline:08X}"]
            wal = newest_wal(ours, segment_size)
            if wal:
                return resume_position(wal), wal["name"] + (".partial" if wal["partial"] else "")
        slot = parse_slot_record(server.get("replication_slot"))
        if slot and slot.get("restart_lsn"):
            position = parse_lsn(slot["restart_lsn"])
        else:
            position = inner["primary"]["xlogpos"]
        segno = segment_of(position, segment_size)
        return segno * segment_size, wal_name(timeline, segno, segment_size) + ".partial"

    def diagnose_and_reset(self, server, problem):
        """Reset receive-wal when the diagnosis proves the divergence; fail with it otherwise.

        problem: why streaming does not work (None in check mode, where nothing was tried).
        """
        name = self.p["server"]
        try:
            diag, inner = self.diagnose(server)
        except WalError as exc:
            diag = {"proven": False, "reason": str(exc), "barman": None, "primary": None, "fork_lsn": None}
            diag["fork_timeline"] = None
            inner = None
        self.result["divergence"] = diag
        if not diag["proven"]:
            if self.module.check_mode:
                return
            self.fail(
                f"{problem}. No receive-wal --reset: a timeline divergence is not proven: {self.describe(diag)}"
            )
        if self.module.check_mode:
            self.stop_receive_wal()
            self.would("receive-wal", "--reset", name)
            self.start_receive_wal()
            self.report_gap(server, diag, inner, after_reset=False)
            return
        self.stop_receive_wal()
        # The slot may stay active for a moment after pg_receivewal was told to stop.
        deadline = time.monotonic() + self.p["wait_timeout"]
        self.cli.commands.append(
            " ".join(shlex.quote(a) for a in self.cli.argv("receive-wal", "--reset", name))
        )
        while True:
            rc, out, err = self.cli.run("receive-wal", "--reset", name, record=False)
            if rc == 0 or "already in use" not in (out + err) or time.monotonic() >= deadline:
                break
            time.sleep(1)
        if rc != 0:
            self.fail(
                f"barman could not reset receive-wal of '{name}' (rc={rc}): {(err or out).strip()} "
                f"(reset because {self.describe(diag)})"
            )
        self.result["reset"] = True
        self.report_gap(server, diag, inner, after_reset=True)
        problem = self.start_receive_wal() or self.wait_streaming()
        if problem:
            self.fail(f"after receive-wal --reset: {problem}. {self.result['gap_report']}")

    def report_gap(self, server, diag, inner, after_reset):
        resume_at, resumed_wal = self.resume_point(server, inner, after_reset)
        gap = None
        if inner["fork"] is not None:
            gap = wal_gap(
                inner["history"],
                inner["primary"]["timeline"],
                inner["fork"],
                resume_at,
                inner["segment_size"],
            )
        report = gap_report(self.p["server"], gap, resumed_wal, diag["fork_lsn"], inner["barman_tli"])
        if self.module.check_mode:
            report = "Check mode, nothing was reset. A reset would say: " + report
        self.result.update(reset=True, wal_gap=gap, gap_report=report)
        self.module.warn(report)

    def absent(self, server, slot, running):
        name = self.p["server"]
        if server.get("streaming_archiver"):
            self.module.warn(
                f"server '{name}' still has streaming_archiver on: barman cron will try to start receive-wal again"
            )
        if running:
            self.stop_receive_wal()
        if slot is not None:
            if self.module.check_mode:
                self.would("receive-wal", "--drop-slot", name)
            else:
                # receive-wal may take a moment to let go of the slot.
                deadline = time.monotonic() + self.p["wait_timeout"]
                while True:
                    rc, out, err = self.cli.run("receive-wal", "--drop-slot", name)
                    if rc == 0:
                        break
                    if time.monotonic() >= deadline:
                        self.fail(
                            f"barman could not drop the slot of '{name}' (rc={rc}): {(err or out).strip()}"
                        )
                    time.sleep(1)
                self.result["changed"] = True
            self.result["dropped"] = True
        if not self.module.check_mode:
            dummy, slot, running, dummy2 = self.read()
        else:
            slot, running = None, False
        self.result.update(slot=slot, receive_wal_running=running)

    def __call__(self):
        try:
            server, slot, running, checks = self.read()
        except BarmanError as exc:
            self.fail(f"server '{self.p['server']}': {exc}")
        configured = server.get("slot_name")
        if self.p["slot_name"] and configured != self.p["slot_name"]:
            self.fail(
                f"Barman's configuration of '{self.p['server']}' names slot_name={configured!r}, "
                f"not {self.p['slot_name']!r}: fix the server's file in Barman's configuration directory"
            )
        if not configured:
            self.fail(f"server '{self.p['server']}' has no slot_name in Barman's configuration")
        if slot is not None and slot["name"] != configured:
            self.fail(
                f"barman reports slot {slot['name']!r} for '{self.p['server']}', expected {configured!r}"
            )
        try:
            if self.p["state"] == "present":
                self.present(server, slot, running, checks)
            else:
                self.absent(server, slot, running)
        except BarmanError as exc:
            self.fail(f"server '{self.p['server']}': {exc}")
        self.module.exit_json(**self.result)


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
    SlotManager(module)()


if __name__ == "__main__":
    main()
