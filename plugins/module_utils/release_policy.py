# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release package policy: what a release may and may not contain.

Pure functions, shared by the modules that build and verify packages and unit-tested on
their own. Every refusal is a PolicyViolation that names the file and the rule.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass

# Paths that hold content or per-environment settings: never part of a release.
DEFAULT_CONTENT_PATHS = (
    "images/",
    "configuration.php",
    "cache/",
    "administrator/cache/",
    "tmp/",
    "logs/",
    "administrator/logs/",
)

# Tables (without prefix) that hold the webmaster's content; `*` matches any suffix.
DEFAULT_CONTENT_TABLES = (
    "content",
    "content_frontpage",
    "content_rating",
    "categories",
    "menu*",
    "modules*",
    "fields*",
    "tags",
    "contentitem_tag_map",
    "assets",
    "workflow*",
    "banner*",
    "users",
    "user_*",
    "usergroups",
    "contact_details",
    "ucm_*",
    "history",
    "schemaorg",
    "redirect_links",
    "newsfeeds",
    "messages",
    "action_logs",
    "privacy_consents",
    "privacy_requests",
    "viewlevels",
    "associations",
    "webauthn_credentials",
    "mail_templates",
    "scheduler_tasks",
)


@dataclass(frozen=True)
class PolicyViolation:
    path: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}"


def check_path(path: str, content_paths=DEFAULT_CONTENT_PATHS) -> PolicyViolation | None:
    """The rule a file path of a release breaks, or None. Paths are relative to the Joomla root."""
    if not path or path.strip() != path:
        return PolicyViolation(repr(path), "empty path or surrounding whitespace")
    if path.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", path):
        return PolicyViolation(path, "absolute path (paths are relative to the Joomla root)")
    if "\\" in path or "\0" in path:
        return PolicyViolation(path, "backslash or NUL in path")
    parts = path.split("/")
    if ".." in parts:
        return PolicyViolation(path, "path escape ('..')")
    if "." in parts or "" in parts:
        return PolicyViolation(path, "path not in normal form ('.', '//' or trailing '/')")
    for content in content_paths:
        if content.endswith("/"):
            if path.startswith(content) or path == content.rstrip("/"):
                return PolicyViolation(path, f"content path ({content} belongs to the site, not to a release)")
        elif path == content:
            return PolicyViolation(path, f"content path ({content} belongs to the site, not to a release)")
    return None


def normalise(path: str) -> str:
    """A path as it appears in a release, for comparison (no leading './')."""
    return posixpath.normpath(path) if path not in ("", ".") else path


# The migration's own tables in a site's database (module_utils/migration): its history, and where
# copies were kept before they moved to a database of their own. No release may name them.
MACHINERY = ("otap_schema_history", "otap_release_history", "otap_snapshots", "otap_snap*")


def is_machinery(name: str) -> bool:
    """Whether a table, named without its prefix, is the migration's own."""
    return is_content_table(name, MACHINERY)


def is_content_table(name: str, content_tables=DEFAULT_CONTENT_TABLES) -> bool:
    """Whether a table, named without its prefix (`content`, `menu_types`), holds content."""
    return any(fnmatch.fnmatchcase(name.lower(), pattern.lower()) for pattern in content_tables)
