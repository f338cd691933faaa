# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Filters that compare a role with its wanted state; documented in role_differs.yml."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from ansible.errors import AnsibleFilterError

# role_attr_flags word -> pg_authid column, as community.postgresql.postgresql_user sets them.
FLAGS = {
    "LOGIN": "rolcanlogin",
    "REPLICATION": "rolreplication",
    "SUPERUSER": "rolsuper",
    "CREATEDB": "rolcreatedb",
    "CREATEROLE": "rolcreaterole",
    "INHERIT": "rolinherit",
    "BYPASSRLS": "rolbypassrls",
}


def scram_verifies(password, verifier):
    """Whether `password` is the one PostgreSQL's SCRAM-SHA-256 `verifier` was made from.

    Only for ASCII passwords (PostgreSQL prepares others with SASLprep first): any other
    password, or a verifier of another kind, does not verify, and the role is written.
    """
    if not isinstance(password, str) or not password.isascii() or not isinstance(verifier, str):
        return False
    try:
        scheme, rest = verifier.split("$", 1)
        params, keys = rest.split("$", 1)
        iterations, salt = params.split(":", 1)
        stored_key, server_key = keys.split(":", 1)
        salt_bytes = base64.b64decode(salt, validate=True)
        rounds = int(iterations)
    except (ValueError, binascii.Error):
        return False
    if scheme != "SCRAM-SHA-256" or not 0 < rounds <= 10_000_000:
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt_bytes, rounds)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    want_stored = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    want_server = base64.b64encode(hmac.new(salted, b"Server Key", hashlib.sha256).digest()).decode()
    return hmac.compare_digest(want_stored, stored_key) and hmac.compare_digest(want_server, server_key)


def role_differs(roles, name, password, flags):
    """Whether community.postgresql.postgresql_user has anything to do for role `name`.

    `roles` maps role names to their pg_authid rows (rolpassword and the flag columns). False
    only when the role exists with every flag as `flags` says (LOGIN,NOSUPERUSER,...) and with
    a SCRAM verifier of `password`.
    """
    if not isinstance(roles, dict):
        raise AnsibleFilterError("otus.pgrepl.role_differs: give it the roles read from pg_authid, by name")
    row = roles.get(name)
    if not row:
        return True
    for word in [w.strip().upper() for w in str(flags).split(",") if w.strip()]:
        wanted = not word.startswith("NO")
        column = FLAGS.get(word[2:] if not wanted else word)
        if column is None:
            raise AnsibleFilterError(f"otus.pgrepl.role_differs: unknown role flag {word}")
        if bool(row.get(column)) != wanted:
            return True
    return not scram_verifies(password, row.get("rolpassword"))


class FilterModule:
    def filters(self):
        return {"role_differs": role_differs}
