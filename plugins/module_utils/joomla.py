# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and changing a Joomla site's own files: configuration.php and Version.php."""

from __future__ import annotations

import os
import re
import tempfile

# JConfig properties that hold secrets: never returned, never logged.
SECRET_KEYS = frozenset({
    "password", "secret", "smtppass", "smtpuser", "redis_server_auth", "session_redis_server_auth",
    "memcached_server_auth", "proxy_pass", "dbsslkey", "dbsslcert",
})

_PROPERTY = re.compile(r"^(?P<indent>\s*)public\s+\$(?P<name>\w+)\s*=\s*(?P<value>.*?);\s*$", re.M)
_CONSTANT = re.compile(r"^\s*(?:public\s+)?const\s+(?P<name>[A-Z_]+)\s*=\s*(?P<value>.*?);\s*$", re.M)


class JoomlaFileError(ValueError):
    pass


def php_value(source: str):
    """The value of a PHP scalar literal as configuration.php and Version.php write them."""
    source = source.strip()
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return re.sub(r"\\([\\'])", r"\1", source[1:-1])
    if len(source) >= 2 and source[0] == source[-1] == '"':
        return re.sub(r'\\(["\\$])', r"\1", source[1:-1])
    lowered = source.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if re.fullmatch(r"-?\d+", source):
        return int(source)
    if re.fullmatch(r"-?\d+\.\d+", source):
        return float(source)
    raise JoomlaFileError(f"not a PHP scalar literal: {source}")


def php_literal(value) -> str:
    """PHP source for a scalar, as Joomla writes configuration.php (booleans as 1/0)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return "''"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise JoomlaFileError(f"cannot write a {type(value).__name__} as a PHP scalar; give a string, number or boolean")


def parse_config(text: str) -> dict:
    """The JConfig properties of a configuration.php (scalars only; arrays are skipped)."""
    if not re.search(r"\bclass\s+JConfig\b", text):
        raise JoomlaFileError("no class JConfig in configuration.php")
    settings = {}
    for match in _PROPERTY.finditer(text):
        try:
            settings[match["name"]] = php_value(match["value"])
        except JoomlaFileError:
            continue
    return settings


def without_secrets(settings: dict) -> dict:
    return {key: value for key, value in settings.items() if key not in SECRET_KEYS}


def set_config(text: str, changes: dict) -> tuple[str, list[str]]:
    """configuration.php with `changes` applied; returns the new text and the names that changed."""
    current = parse_config(text)
    changed = [name for name, value in changes.items()
               if name not in current or php_literal(current[name]) != php_literal(value)]
    for name in changed:
        line = f"public ${name} = {php_literal(changes[name])};"
        pattern = re.compile(rf"^(\s*)public\s+\${re.escape(name)}\s*=\s*.*?;\s*$", re.M)
        if pattern.search(text):
            text = pattern.sub(lambda m: m.group(1) + line, text, count=1)
        else:
            closing = text.rstrip().rfind("}")
            if closing < 0:
                raise JoomlaFileError("configuration.php has no closing brace for class JConfig")
            text = text[:closing] + f"    {line}\n" + text[closing:]
    return text, changed


def parse_version(text: str) -> dict:
    """Joomla's version constants from libraries/src/Version.php, and the short version."""
    constants = {}
    for match in _CONSTANT.finditer(text):
        try:
            constants[match["name"]] = php_value(match["value"])
        except JoomlaFileError:
            continue
    if "MAJOR_VERSION" not in constants:
        raise JoomlaFileError("no MAJOR_VERSION constant in Version.php")
    short = ".".join(str(constants.get(k, 0)) for k in ("MAJOR_VERSION", "MINOR_VERSION", "PATCH_VERSION"))
    if constants.get("EXTRA_VERSION"):
        short += f"-{constants['EXTRA_VERSION']}"
    return {"version": short, **{k.lower(): v for k, v in constants.items()}}


def replace_config(module, path: str, text: str) -> None:
    """Replace the file at `path` with `text` atomically, keeping its owner, group and mode, so PHP
    never reads a half-written configuration (`module`: the AnsibleModule that moves it)."""
    info = os.stat(path)
    fd, fresh = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".configuration.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chown(fresh, info.st_uid, info.st_gid)
    os.chmod(fresh, info.st_mode & 0o7777)
    module.atomic_move(fresh, path)
