# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which uploads only a node holds, compared with the primary's: what a rebuild would remove."""

from __future__ import annotations

DOCUMENTATION = r"""
name: stranded_uploads
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Name the files of a node that its primary does not have, or has older
description:
  - Compares two listings of the same upload folders, one record per file as
    C(find -type f -printf '%p\t%s\t%T@\0') prints it (path, size, modification time, each
    record ended by a NUL, so that any name, newlines included, reads as itself), the node's
    (input) and the primary's (I(primary)).
  - A file is stranded on the node when the primary has no file by that path, has an older one
    (the node changed it later; replication copies modification times, so level copies have
    equal ones), or one of another size with the same time. A file the primary changed later is
    the primary's newer copy, not content of the node's.
options:
  _input:
    description: The node's listing.
    type: str
    required: true
  primary:
    description: The primary's listing.
    type: str
    required: true
  for_archive:
    description: >-
      Give the paths as C(community.general.archive) reads them, which takes a path with C(*) or C(?) for a
      pattern; in such a path C(*), C(?) and C([) are bracketed to stand for themselves.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Name the uploads only prod1 holds
  ansible.builtin.set_fact:
    stranded: "{{ node_listing.stdout | otap.street.stranded_uploads(primary_listing.stdout) }}"
"""

RETURN = r"""
_value:
  description: The stranded files' paths, sorted.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError


def _files(listing: str) -> dict[str, tuple[int, float]]:
    files = {}
    for line in (listing or "").split("\0"):
        if not line:
            continue
        try:
            path, size, modified = line.rsplit("\t", 2)
            files[path] = (int(size), float(modified))
        except ValueError as error:
            raise AnsibleFilterError(f"stranded_uploads: not a listing line (path, size, time): {line!r}") from error
    return files


def _literal(path: str) -> str:
    if "*" not in path and "?" not in path:
        return path
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def stranded_uploads(node: str, primary: str, for_archive: bool = False) -> list[str]:
    """See DOCUMENTATION."""
    theirs = _files(primary)
    found = []
    for path, (size, modified) in _files(node).items():
        other = theirs.get(path)
        if other is None or other[1] < modified or (other[1] == modified and other[0] != size):
            found.append(path)
    return [_literal(path) for path in sorted(found)] if for_archive else sorted(found)


class FilterModule:
    def filters(self):
        return {"stranded_uploads": stranded_uploads}
