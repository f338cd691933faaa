# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""WAL positions, WAL file names and timeline histories: pure functions, no I/O.

Used by barman_slot to prove (or not) that Barman streamed WAL the primary's
history left behind (a timeline divergence after a failover), and to name the
WAL a `barman receive-wal --reset` leaves out of the archive.
"""

from __future__ import annotations

import re

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
# A WAL segment as pg_receivewal or Barman stores it: 24 hex digits, maybe
# compressed, maybe .partial (the one pg_receivewal still writes).
_WAL_FILE = re.compile(r"^(?P<name>[0-9A-F]{24})(?:\.(?:gz|lz4|zst))?(?P<partial>\.partial)?$")


class WalError(ValueError):
    """Output we cannot read as an LSN, a WAL name, IDENTIFY_SYSTEM or a timeline history."""


def parse_lsn(text):
    """'0/5A0000D8' -> int."""
    match = _LSN.match(str(text).strip())
    if not match:
        raise WalError(f"{text!r} is not an LSN")
    return (int(match.group(1), 16) << 32) + int(match.group(2), 16)


def format_lsn(position):
    """int -> '0/5A0000D8', as PostgreSQL prints it."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def _segments_per_log(segment_size):
    if segment_size <= 0 or 0x100000000 % segment_size:
        raise WalError(f"{segment_size} is not a WAL segment size")
    return 0x100000000 // segment_size


def wal_name(timeline, segno, segment_size=DEFAULT_SEGMENT_SIZE):
    """(timeline, segment number) -> the segment's file name."""
    per_log = _segments_per_log(segment_size)
    return f"{timeline:08X}{segno // per_log:08X}{segno % per_log:08X}"


def segment_of(position, segment_size=DEFAULT_SEGMENT_SIZE):
    """The number of the segment that holds the byte at an LSN."""
    return position // segment_size


def parse_wal_file(name, segment_size=DEFAULT_SEGMENT_SIZE):
    """A file name in a WAL directory -> dict(name, timeline, segno, partial, start, end), or None.

    start/end: the LSNs where the segment begins and where the next one begins.
    History (00000010.history) and backup label (....00000028.backup) files give None.
    """
    match = _WAL_FILE.match(str(name).rsplit("/", 1)[-1])
    if not match:
        return None
    hexname = match.group("name")
    per_log = _segments_per_log(segment_size)
    log, seg = int(hexname[8:16], 16), int(hexname[16:24], 16)
    if seg >= per_log:
        return None
    segno = log * per_log + seg
    return {
        "name": hexname,
        "timeline": int(hexname[:8], 16),
        "segno": segno,
        "partial": match.group("partial") is not None,
        "start": segno * segment_size,
        "end": (segno + 1) * segment_size,
    }


def newest_wal(names, segment_size=DEFAULT_SEGMENT_SIZE):
    """The WAL file pg_receivewal would continue from, among file names (None when there is none).

    pg_receivewal's own order: the highest segment, on the highest timeline, a complete file
    before a .partial one of the same segment.
    """
    best = None
    for name in names:
        wal = parse_wal_file(name, segment_size)
        if wal is None:
            continue
        key = (wal["segno"], wal["timeline"], not wal["partial"])
        if best is None or key > best[0]:
            best = (key, wal)
    return best[1] if best else None


def resume_position(wal):
    """Where pg_receivewal asks the server to stream from, given the newest file it has.

    A .partial segment is fetched again from its start; after a complete one it goes on with the next.
    """
    return wal["start"] if wal["partial"] else wal["end"]


def parse_identify_system(output):
    """psql -At output of IDENTIFY_SYSTEM ('systemid|timeline|xlogpos|dbname') -> dict."""
    for line in str(output).splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 3:
            break
        try:
            return {
                "systemid": fields[0].strip(),
                "timeline": int(fields[1]),
                "xlogpos": parse_lsn(fields[2]),
            }
        except ValueError as exc:
            raise WalError(f"cannot read IDENTIFY_SYSTEM output {output!r}: {exc}") from exc
    raise WalError(f"cannot read IDENTIFY_SYSTEM output {output!r}")


def parse_timeline_history_output(output):
    """psql -At output of TIMELINE_HISTORY -> (filename, content).

    psql prints 'filename|content', the content going on over many lines.
    """
    text = str(output)
    filename, sep, content = text.partition("|")
    if not sep or not re.fullmatch(r"[0-9A-F]{8}\.history", filename.strip()):
        raise WalError(f"cannot read TIMELINE_HISTORY output {text[:200]!r}")
    content = content.rstrip("\n")
    # The column is bytea: psql may print it hex-encoded.
    if content.startswith("\\x"):
        try:
            content = bytes.fromhex(content[2:].strip()).decode()
        except ValueError as exc:
            raise WalError(f"cannot decode the history file {filename}: {exc}") from exc
    return filename.strip(), content


def parse_timeline_history(content):
    """A timeline history file -> [(parent timeline, switch point LSN, reason)], oldest first.

    Each line: 'parentTLI<TAB>switchpoint<TAB>reason'; blank lines and '#' comments are skipped.
    """
    entries = []
    for number, raw in enumerate(str(content).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, 2)
        try:
            tli, switchpoint = int(fields[0]), parse_lsn(fields[1])
        except (IndexError, ValueError) as exc:
            raise WalError(
                f"line {number} of the timeline history is not 'TLI<TAB>LSN<TAB>reason': {raw!r}"
            ) from exc
        if entries and tli <= entries[-1][0]:
            raise WalError(f"line {number} of the timeline history does not go up: {raw!r}")
        entries.append((tli, switchpoint, fields[2] if len(fields) > 2 else ""))
    return entries


def fork_point(history, timeline, current_timeline):
    """Where the history of current_timeline left `timeline`: (switch point, next timeline), or None."""
    for index, (tli, switchpoint, _reason) in enumerate(history):
        if tli == timeline:
            following = history[index + 1][0] if index + 1 < len(history) else current_timeline
            return switchpoint, following
    return None


def timeline_at(history, current_timeline, position):
    """The timeline that holds the byte at `position` in current_timeline's history."""
    for tli, switchpoint, _reason in history:
        if position < switchpoint:
            return tli
    return current_timeline


def diagnose_divergence(barman_timeline, barman_position, primary_timeline, history):
    """Whether Barman's WAL stream is proven to have left the primary's history.

    barman_position: where pg_receivewal continues (resume_position); history: the primary's
    current timeline history (parse_timeline_history), or None when it could not be read.
    Proven only when Barman is on an older timeline of the primary's history and past the point
    where that history left it. Returns dict(proven, reason, fork_lsn, fork_timeline).
    """
    result = {"proven": False, "fork_lsn": None, "fork_timeline": None}
    where = f"timeline {barman_timeline} at {format_lsn(barman_position)}"
    if barman_timeline == primary_timeline:
        result["reason"] = f"Barman continues on the primary's own {where}: no timeline divergence"
        return result
    if barman_timeline > primary_timeline:
        result["reason"] = (
            f"Barman continues on {where}, newer than the primary's timeline {primary_timeline}: "
            "is the configuration pointing at an old primary?"
        )
        return result
    if not history:
        result["reason"] = (
            f"the primary's history of timeline {primary_timeline} is not available: "
            f"cannot tell whether Barman's {where} left it"
        )
        return result
    fork = fork_point(history, barman_timeline, primary_timeline)
    if fork is None:
        result["reason"] = (
            f"Barman's timeline {barman_timeline} is not in the primary's history of timeline "
            f"{primary_timeline} (timelines {', '.join(str(e[0]) for e in history)})"
        )
        return result
    switchpoint, following = fork
    result["fork_lsn"] = format_lsn(switchpoint)
    result["fork_timeline"] = following
    if barman_position <= switchpoint:
        result["reason"] = (
            f"Barman continues on {where}, not past {format_lsn(switchpoint)} where the primary's "
            f"history left timeline {barman_timeline} for {following}: the primary can stream from there"
        )
        return result
    result["proven"] = True
    result["reason"] = (
        f"Barman continues on {where}, past {format_lsn(switchpoint)} where the primary's history "
        f"left timeline {barman_timeline} for {following}: the primary cannot stream from there"
    )
    return result


def wal_gap(history, primary_timeline, fork_position, resume_at, segment_size=DEFAULT_SEGMENT_SIZE):
    """The WAL of the primary's history from the fork to where streaming resumes (None when empty).

    dict(timeline, timelines, from_lsn, to_lsn, from_wal, to_wal): timeline is the one that began
    at the fork; timelines all those the range spans; to_wal the last segment that is missing.
    """
    if resume_at <= fork_position:
        return None
    first_tli = timeline_at(history, primary_timeline, fork_position)
    last_tli = timeline_at(history, primary_timeline, resume_at - 1)
    path = [tli for tli, _s, _r in history] + [primary_timeline]
    return {
        "timeline": first_tli,
        "timelines": [tli for tli in path if first_tli <= tli <= last_tli],
        "from_lsn": format_lsn(fork_position),
        "to_lsn": format_lsn(resume_at),
        "from_wal": wal_name(first_tli, segment_of(fork_position, segment_size), segment_size),
        "to_wal": wal_name(last_tli, segment_of(resume_at - 1, segment_size), segment_size),
    }


def gap_report(server, gap, resumed_wal, fork_lsn, barman_timeline):
    """The sentence a user must read after a receive-wal --reset."""
    if gap is None:
        return (
            f"Server '{server}': receive-wal was reset and resumes at {resumed_wal}, not after the point "
            f"{fork_lsn} where the primary's history left timeline {barman_timeline}: "
            "no WAL of the primary's history is missing from Barman's archive."
        )
    tls = gap["timelines"]
    which = f"timeline {tls[0]}" if len(tls) == 1 else f"timelines {tls[0]} to {tls[-1]}"
    return (
        f"Server '{server}': WAL of {which} from LSN {gap['from_lsn']} to LSN {gap['to_lsn']} "
        f"(files {gap['from_wal']}..{gap['to_wal']}) is not in Barman's archive: Barman had streamed "
        f"timeline {barman_timeline} past {fork_lsn}, where the primary's history left it, and "
        f"receive-wal was reset to resume at {resumed_wal}. Point-in-time recovery into that range is "
        f"impossible, and no earlier backup can be replayed past LSN {gap['from_lsn']}; the earliest point "
        "reachable after it is the end of the next base backup (take one now)."
    )
