"""role_differs: the primary's role writes a role only when pg_authid shows it differs."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otus.pgrepl.plugins.filter.roles import FilterModule, scram_verifies

role_differs = FilterModule().filters()["role_differs"]

# Made by PostgreSQL 17 on the stand: CREATE ROLE ... PASSWORD 'test-only-Secret:1' (TEST-ONLY).
PASSWORD = "test-only-Secret:1"
VERIFIER = (
    "SCRAM-SHA-256$4096:5l5Jp8HdP4TTUH2orC3cpg==$d6lL2JvgVNXUx025C4GwjtTMX8obesNIIQSzfEudYlk="
    ":8+lIhs4DpeUPJ3O8XTtXvlKJs6Ewx3PL67/PGZ8rRpg="
)
FLAGS = "LOGIN,REPLICATION,NOSUPERUSER,NOCREATEDB,NOCREATEROLE"
ROW = {
    "rolcanlogin": True,
    "rolreplication": True,
    "rolsuper": False,
    "rolcreatedb": False,
    "rolcreaterole": False,
    "rolpassword": VERIFIER,
}


def test_a_postgresql_verifier_verifies_its_password() -> None:
    assert scram_verifies(PASSWORD, VERIFIER)
    assert not scram_verifies(PASSWORD + "x", VERIFIER)


@pytest.mark.parametrize(
    "verifier",
    [
        None,
        "",
        "md5a3556571e93b0d20722ba62be61e8c2d",
        "SCRAM-SHA-256$4096:not base64!$a:b",
        "SCRAM-SHA-256$0:5l5Jp8HdP4TTUH2orC3cpg==$a:b",
        VERIFIER.replace("d6lL", "d6lM"),
    ],
)
def test_anything_but_a_matching_scram_verifier_does_not_verify(verifier) -> None:
    assert not scram_verifies(PASSWORD, verifier)


def test_a_password_postgresql_would_prepare_never_counts_as_the_same() -> None:
    assert not scram_verifies("pässword", VERIFIER)


def test_nothing_to_do_only_for_the_same_flags_and_password() -> None:
    roles = {"replicator": ROW}
    assert not role_differs(roles, "replicator", PASSWORD, FLAGS)
    assert role_differs(roles, "replicator", "another", FLAGS)
    assert role_differs(roles, "other_role", PASSWORD, FLAGS)
    assert role_differs({"replicator": {**ROW, "rolcreatedb": True}}, "replicator", PASSWORD, FLAGS)
    assert role_differs({"replicator": {**ROW, "rolreplication": False}}, "replicator", PASSWORD, FLAGS)
    # Barman's backup role: NOREPLICATION wanted.
    assert role_differs(roles, "replicator", PASSWORD, "LOGIN,NOREPLICATION")


def test_bad_arguments_are_errors() -> None:
    with pytest.raises(AnsibleFilterError, match="unknown role flag"):
        role_differs({"replicator": ROW}, "replicator", PASSWORD, "LOGIN,WIZARD")
    with pytest.raises(AnsibleFilterError, match="pg_authid"):
        role_differs([], "replicator", PASSWORD, FLAGS)
