# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a scrub would do, as one digest: a copy scrubbed otherwise is copied and scrubbed again."""

from __future__ import annotations

DOCUMENTATION = r"""
name: scrub_digest
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: A digest of everything a scrub of Production's database depends on
description:
  - The sha256 of the scrub's own code (C(joomla_scrub) with its default rules and the sweep's
    patterns, in C(module_utils/scrub)) and of the site's settings given as input.
  - The sync records it beside the copy it swapped in, and copies Production's database again when
    it differs - a rule added after a leak, or a newer collection's rules, scrub what an earlier copy
    let through, though Production has not changed since.
options:
  _input:
    description: The site's scrub settings (its own rules, what the sweep skips and takes as public, the prefix).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Note what this sync's scrub is
  ansible.builtin.set_fact:
    scrub: "{{ {'rules': sync_scrub_rules, 'prefix': sync_dbprefix} | otap.street.scrub_digest }}"
"""

RETURN = r"""
_value:
  description: The digest, 64 hexadecimal characters.
  type: str
"""

import hashlib
import inspect
import json

from ansible.errors import AnsibleFilterError
from ansible_collections.otap.street.plugins.module_utils import scrub
from ansible_collections.otap.street.plugins.modules import joomla_scrub


def scrub_digest(settings) -> str:
    """The digest of the scrub's code and `settings`; see DOCUMENTATION."""
    try:
        spelled = json.dumps(settings, sort_keys=True, default=str)
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError(f"scrub_digest: the settings are not plain data: {error}") from error
    digest = hashlib.sha256(spelled.encode())
    for code in (scrub, joomla_scrub):
        digest.update(inspect.getsource(code).encode())
    return digest.hexdigest()


class FilterModule:
    def filters(self):
        return {"scrub_digest": scrub_digest}
