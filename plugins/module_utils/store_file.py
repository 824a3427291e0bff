# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML files at the agreed place that several runs may update at once."""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager

from ansible_collections.otap.street.plugins.module_utils.pyyaml import yaml


def load_list(path: str, key: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return list(data.get(key, []))


def dump_list(header: str, key: str, items: list[dict]) -> str:
    return header + yaml.safe_dump({key: items}, sort_keys=False, allow_unicode=True)


@contextmanager
def locked(path: str):
    """Hold an exclusive lock beside `path` while its content is read and replaced."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def replace(module, path: str, text: str) -> None:
    """Write `text` to `path` atomically (readable by all: the store holds no secrets)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix="." + os.path.basename(path) + ".")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    module.atomic_move(tmp, path)
