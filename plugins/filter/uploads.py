"""Which uploads only a node holds, compared with the primary's: what a rebuild would remove."""

from __future__ import annotations

DOCUMENTATION = r"""
name: stranded_uploads
author: otap.street maintainers
version_added: 0.6.0
short_description: Name the files of a node that its primary does not have, or has older
description:
  - Compares two listings of the same upload folders, one line per file as
    C(find -type f -printf '%p\t%s\t%T@\n') prints it (path, size, modification time), the
    node's (input) and the primary's (I(primary)).
  - A file is stranded on the node when the primary has no file by that path, or has an older
    one (the node changed it later; replication copies modification times, so level copies
    have equal ones). A file the primary changed later is the primary's newer copy, not content
    of the node's.
options:
  _input:
    description: The node's listing.
    type: str
    required: true
  primary:
    description: The primary's listing.
    type: str
    required: true
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
    for line in (listing or "").splitlines():
        if not line.strip():
            continue
        try:
            path, size, modified = line.rsplit("\t", 2)
            files[path] = (int(size), float(modified))
        except ValueError as error:
            raise AnsibleFilterError(f"stranded_uploads: not a listing line (path, size, time): {line!r}") from error
    return files


def stranded_uploads(node: str, primary: str) -> list[str]:
    """See DOCUMENTATION."""
    theirs = _files(primary)
    found = []
    for path, (_size, modified) in _files(node).items():
        other = theirs.get(path)
        if other is None or other[1] < modified:
            found.append(path)
    return sorted(found)


class FilterModule:
    def filters(self):
        return {"stranded_uploads": stranded_uploads}
