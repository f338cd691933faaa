# Copyright: (c) 2026, otus.pgrepl developers
# MIT License (see LICENSE)
"""Options every module that runs the barman command shares."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  barman_user:
    description: User the barman commands run as (the module itself runs as root or as that user).
    type: str
    default: barman
  barman_config:
    description: Barman's main configuration file, when not the default one.
    type: path
"""
