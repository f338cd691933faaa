# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Action plugin behind otus.pgrepl.checks: many asserts in one task, each with its own message."""

from __future__ import annotations

import collections

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

KEYS = frozenset(("name", "that", "msg", "when", "loop"))
# What _check returns for a check whose `when` is false (no message can be mistaken for it).
SKIPPED = object()


def _kind(value):
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping (use dict2items)"
    return "nothing" if value is None else type(value).__name__


def _as_list(value):
    return value if isinstance(value, list) else [value]


class ActionModule(ActionBase):
    """Evaluate the checks in order on the controller; stop at the first that fails."""

    _requires_connection = False
    _VALID_ARGS = frozenset(("checks",))

    @classmethod
    def finalize_task_arg(cls, name, value, templar, context):
        # A check's condition, message and loop are templated in run(), one check after the other and only
        # as far as the checks before it passed: a later check may rely on what an earlier one made sure of.
        if name == "checks" and isinstance(value, list):
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def _true(self, templar, conditions):
        return all(templar.evaluate_conditional(c) for c in _as_list(conditions))

    def _with_item(self, item):
        variables = collections.ChainMap({"item": item}, self._templar.available_variables)
        return self._templar.copy_with_new_env(available_variables=variables)

    def _check(self, number, check):
        """The failed check's message, None when it holds, or SKIPPED."""
        if (
            not isinstance(check, dict)
            or not {"that", "msg"} <= set(check)
            or set(check) - KEYS
            or not isinstance(check["msg"], str)
            or not check["msg"].strip()
        ):
            raise AnsibleActionFail(
                f"checks[{number}] must be a mapping with 'that' and a non-empty 'msg' (and optionally name,"
                f" when, loop); got {check!r}"
            )
        if "when" in check and not self._true(self._templar, check["when"]):
            return SKIPPED
        if "loop" in check:
            items = self._templar.template(check["loop"])
            if not isinstance(items, list):
                raise AnsibleActionFail(f"checks[{number}] loop must give a list, got {_kind(items)}")
            templars = [self._with_item(item) for item in items]
        else:
            templars = [self._templar]
        for templar in templars:
            holds = self._true(templar, check["that"])
            # Rendered whether or not the check holds, as assert renders its fail_msg: a message that
            # cannot be rendered shows on a good inventory's run, not first in front of a user.
            msg = templar.template(check["msg"])
            if not holds:
                return msg
        return None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        checks = self._task.args.get("checks")
        if not isinstance(checks, list) or not checks:
            raise AnsibleActionFail("checks must be a non-empty list of {that, msg} mappings")
        if not hasattr(self._templar, "evaluate_conditional"):
            raise AnsibleActionFail("otus.pgrepl.checks needs ansible-core 2.19 or later")
        skipped = 0
        for number, check in enumerate(checks):
            msg = self._check(number, check)
            if msg is SKIPPED:
                skipped += 1
            elif msg is not None:
                result.update(failed=True, msg=msg, check=check.get("name", f"checks[{number}]"))
                return result
        result.update(changed=False, msg=f"{len(checks) - skipped} checks passed, {skipped} skipped")
        return result
