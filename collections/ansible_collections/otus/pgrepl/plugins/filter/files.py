# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Filters for laying down files; documented in file_differs.yml."""

from __future__ import annotations

import hashlib

from ansible.errors import AnsibleFilterError


def _entries(found):
    """otus.pgrepl.file_info's registered result, or its `files` -> {path: entry}."""
    if not isinstance(found, dict):
        raise AnsibleFilterError("otus.pgrepl.file_differs: give it the result of otus.pgrepl.file_info")
    return found.get("files", found)


def _sha1_of_file(src):
    digest = hashlib.sha1()  # noqa: S324 - compared with find's checksum, which is SHA-1
    try:
        with open(src, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
    except OSError as exc:
        raise AnsibleFilterError(f"otus.pgrepl.file_differs: cannot read {src}: {exc}") from exc
    return digest.hexdigest()


def _holds_lines(text, part):
    """Whether `part` stands in `text` as whole lines (a line-editing task's block or line)."""
    text = text if text.endswith("\n") else text + "\n"
    part = part if part.endswith("\n") else part + "\n"
    return ("\n" + text).find("\n" + part) >= 0


def file_differs(  # noqa: PLR0913
    found, path, mode, owner, group, *, content=None, src=None, contains=None, directory=False
):
    """Whether the task that lays down `path` has anything to do.

    False only when `found` (otus.pgrepl.file_info's result) shows the path as it would be
    written: the same kind (directory or regular file, not a link), mode, owner and group, and
    for a file the same SHA-1 as `content` (rendered text) or the controller's file `src`, or,
    for a task that edits lines in a file shared with others, each text of `contains` in the
    file's read text as whole lines. Anything unknown counts as different, so the task itself
    runs and decides.
    """
    entry = _entries(found).get(path)
    if not entry or not entry.get("exists"):
        return True
    kind = "isdir" if directory else "isreg"
    if not entry.get(kind) or entry.get("islnk"):
        return True
    try:
        if int(str(entry.get("mode")), 8) != int(str(mode), 8):
            return True
    except ValueError:
        return True
    if entry.get("pw_name") != owner or entry.get("gr_name") != group:
        return True
    if directory:
        return False
    if contains is not None:
        text = entry.get("content")
        if text is None:
            return True
        parts = [contains] if isinstance(contains, str) else list(contains)
        return not all(_holds_lines(text, str(part)) for part in parts)
    if content is not None:
        want = hashlib.sha1(str(content).encode("utf-8")).hexdigest()  # noqa: S324 - see above
    elif src is not None:
        want = _sha1_of_file(src)
    else:
        raise AnsibleFilterError("otus.pgrepl.file_differs: give content=, src= or contains= for a file")
    return entry.get("checksum") != want


class FilterModule:
    def filters(self):
        return {"file_differs": file_differs}
