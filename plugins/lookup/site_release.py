# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which release each address of a site serves, as a visitor's browser sees it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: site_release
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Which release each address of the site serves, asked from the controller
description:
  - Asks each address (a host name or IP, with C(:port) when it is not 80) for the site's home page
    over HTTP, from the controller, as a visitor would, and reads the release it serves from the
    C(otap-release) meta every release's page carries.
  - One answer per address, in the order given; an address that does not answer, or answers
    anything but HTTP 200, has no release and says why. Never fails on an address; the caller
    decides (role C(joomla_site)'s entry point C(answers) asserts on the answers, and asks again).
  - All addresses in the controller's own process, one after the other (the task it replaces started
    a module on the controller per address).
options:
  _terms:
    description: The addresses to ask.
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds an address may take to answer.
    type: float
    default: 10
"""

EXAMPLES = r"""
- name: Check that every node serves release 4
  ansible.builtin.assert:
    that: query('otap.street.site_release', ['10.242.42.21', '10.242.42.22']) | map(attribute='release') | unique == [4]
"""

RETURN = r"""
_list:
  description: One answer per address.
  type: list
  elements: dict
  contains:
    address:
      description: The address asked.
      type: str
    status:
      description: The HTTP status (none when it did not answer).
      type: int
    release:
      description: The release its page names (none when it named none, or did not answer with HTTP 200).
      type: int
    said:
      description: The answer in words, for a message (for example C(10.0.0.1 serves release 4)).
      type: str
"""

import re
import socket
import urllib.error

from ansible.module_utils.urls import open_url
from ansible.plugins.lookup import LookupBase

RELEASE = re.compile(rb'<meta name="otap-release" content="(\d+)">')
# A Joomla home page is far smaller: what comes after this is not read.
MOST = 2 * 1024 * 1024


def ask(address: str, timeout: float) -> dict:
    """One address's answer: its status and the release its page names, and that in words."""
    answer = {"address": address, "status": None, "release": None}
    try:
        with open_url(f"http://{address}/", timeout=timeout, validate_certs=True) as response:
            answer["status"], page = response.status, response.read(MOST)
    except urllib.error.HTTPError as error:
        answer["status"] = error.code
        return {**answer, "said": f"{address} answered HTTP {error.code}"}
    except (urllib.error.URLError, OSError, socket.timeout, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return {**answer, "said": f"{address} did not answer ({reason})"}
    found = RELEASE.search(page)
    if answer["status"] != 200:
        return {**answer, "said": f"{address} answered HTTP {answer['status']}"}
    if not found:
        return {**answer, "said": f"{address} answered a page that names no release"}
    answer["release"] = int(found.group(1))
    return {**answer, "said": f"{address} serves release {answer['release']}"}


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        timeout = float(self.get_option("timeout"))
        # query('otap.street.site_release', addresses) hands the list over as one term.
        addresses = [a for term in terms for a in (term if isinstance(term, (list, tuple)) else [term])]
        return [ask(str(address), timeout) for address in addresses]
