#!/usr/bin/python
# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
module: file_info
short_description: Read the kind, mode, owner, group and SHA-1 of many paths in one call
version_added: 0.1.0
author: otus.pgrepl developers (!UNKNOWN)
description:
  - Reads each path with C(lstat) (a link is reported as a link, not followed), and the SHA-1 of each
    regular file. A missing path is reported as missing, not as an error.
  - The roles call it once before the tasks that lay down files and folders, and skip the items that are
    already as those tasks would write them (filter P(otus.pgrepl.file_differs#filter)). A run with
    nothing to change then reads a host's files in one call instead of two calls per file.
  - Changes nothing.
options:
  paths:
    description: Absolute paths to read.
    type: list
    elements: path
    required: true
  read:
    description:
      - Paths, among O(paths), whose text to return as well (a small file the caller compares or uses, such as
        a public key or a C(known_hosts) file), so that no C(slurp) call is needed.
      - Only a regular file of at most 64 KiB is read; a larger one fails the task.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
    description: Reads in check mode as in a normal run.
  diff_mode:
    support: none
    description: Reports no diff.
seealso:
  - module: ansible.builtin.stat
  - plugin: otus.pgrepl.file_differs
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Read the configuration's files and folders once
  otus.pgrepl.file_info:
    paths:
      - /etc/postgresql/17/main
      - /etc/postgresql/17/main/postgresql.conf
  register: found

- name: Write postgresql.conf only where it differs
  ansible.builtin.template:
    src: postgresql.conf.j2
    dest: /etc/postgresql/17/main/postgresql.conf
    owner: postgres
    group: postgres
    mode: "0644"
  when: >-
    found | otus.pgrepl.file_differs('/etc/postgresql/17/main/postgresql.conf', '0644', 'postgres', 'postgres',
    content=lookup('ansible.builtin.template', 'postgresql.conf.j2'))
"""

RETURN = r"""
files:
  description:
    - What each path is, keyed by the path as given.
    - An existing regular file listed in O(read) also has C(content), its text (UTF-8, undecodable bytes
      replaced).
  returned: always
  type: dict
  sample:
    /etc/postgresql/17/main/postgresql.conf:
      exists: true
      isdir: false
      isreg: true
      islnk: false
      mode: "0644"
      pw_name: postgres
      gr_name: postgres
      checksum: 5f2b2cf7a0b0f8e4d8c4b7a1f1d2c3e4f5a6b7c8
    /var/lib/postgresql/.ssh/id_ed25519.pub:
      exists: true
      isdir: false
      isreg: true
      islnk: false
      mode: "0644"
      pw_name: postgres
      gr_name: postgres
      checksum: 0b6e1f7b2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b
      content: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... postgres@node1\n"
    /etc/postgresql/17/main/missing.conf:
      exists: false
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return None


READ_LIMIT = 64 * 1024


def path_info(module, path, read=False):
    """What `path` is, read with lstat; a missing path is {'exists': False}."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    except OSError as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}")
    info = {
        "exists": True,
        "isdir": stat.S_ISDIR(st.st_mode),
        "isreg": stat.S_ISREG(st.st_mode),
        "islnk": stat.S_ISLNK(st.st_mode),
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "pw_name": _name(pwd.getpwuid, st.st_uid),
        "gr_name": _name(grp.getgrgid, st.st_gid),
    }
    if info["isreg"]:
        info["checksum"] = module.digest_from_file(path, "sha1")
        if read:
            if st.st_size > READ_LIMIT:
                module.fail_json(
                    msg=f"{path} is {st.st_size} bytes: read returns files of at most {READ_LIMIT}"
                )
            with open(path, "rb") as handle:
                info["content"] = handle.read().decode("utf-8", errors="replace")
    return info


def main():
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "required": True},
            "read": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    paths, read = module.params["paths"], set(module.params["read"])
    if read - set(paths):
        module.fail_json(msg=f"read lists paths that paths does not: {', '.join(sorted(read - set(paths)))}")
    files = {}
    for path in paths:
        if not os.path.isabs(path):
            module.fail_json(msg=f"paths must be absolute: {path}")
        files[path] = path_info(module, path, read=path in read)
    module.exit_json(changed=False, files=files)


if __name__ == "__main__":
    main()
