# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify a release package in one pass, and unpack exactly the bytes that were verified.

The package file is opened once and read once. Every byte read goes to the checksum the register
recorded, to the agency's signature check (ssh-keygen) and to the tar reader, which streams each
member into a private staging folder while hashing it against the manifest (the first member).
Only when the checksum, the signature, the manifest and the policy all hold is the staging folder
moved into place; otherwise it is removed. Memory stays bounded by the read size and the small
members kept for checking (manifest, release notes, SQL scripts), whatever the package's size.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

from ansible_collections.otap.street.plugins.module_utils.pyyaml import yaml
from ansible_collections.otap.street.plugins.module_utils.release_package import (
    PackageRefused,
    declarations,
    manifest_bytes,
    schema_problems,
)
from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    DEFAULT_CONTENT_PATHS,
    DEFAULT_CONTENT_TABLES,
    PolicyViolation,
    check_path,
)
from ansible_collections.otap.street.plugins.module_utils.signature import StreamVerifier
from ansible_collections.otap.street.plugins.module_utils.sql_policy import Verdicts, sql_violations

CHUNK = 1 << 20
KEPT_LIMITS = {"manifest.yml": 1 << 20, "RELEASE.md": 1 << 20, "sql/": 16 << 20}
UNPACKED_LIMIT = 4 << 30


class _Tee:
    """A read-only file that passes every byte read on to the checksum and the signature check."""

    def __init__(self, handle, sinks):
        self._handle, self._sinks = handle, sinks

    def read(self, size=-1):
        data = self._handle.read(size)
        for sink in self._sinks:
            sink(data)
        return data

    def drain(self):
        while self.read(CHUNK):
            pass


def _kept_limit(name: str) -> int | None:
    if name in KEPT_LIMITS:
        return KEPT_LIMITS[name]
    return KEPT_LIMITS["sql/"] if name.startswith("sql/") else None


def _write_member(source, dest: Path, limit: int) -> tuple[str, int]:
    """Stream a member into a new file (never through a link); its sha256 and size."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        for block in iter(lambda: source.read(CHUNK), b""):
            size += len(block)
            if size > limit:
                raise PackageRefused(dest.name, [PolicyViolation(dest.name, "the package unpacks to more than "
                                                                            f"{UNPACKED_LIMIT >> 30} GiB")])
            digest.update(block)
            out.write(block)
    return digest.hexdigest(), size


def _hash_member(source) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: source.read(CHUNK), b""):
        digest.update(block)
    return digest.hexdigest()


class _Reader:
    def __init__(self, name, expected_release, content_paths, staging):
        self.name, self.expected_release, self.content_paths, self.staging = name, expected_release, content_paths, staging
        self.problems: list[PolicyViolation] = []
        self.manifest = None
        self.kept: dict[str, bytes] = {}
        self.expected: dict[str, dict] = {}
        self.seen: set[str] = set()
        self.unpacked = 0

    def refuse(self, path, rule):
        self.problems.append(PolicyViolation(path, rule))

    def member(self, tar, member) -> None:
        name = member.name
        violation = check_path(name, content_paths=())
        if violation:
            return self.refuse(name, violation.rule)
        if member.issym() or member.islnk():
            return self.refuse(name, "link (a release holds regular files only)")
        if member.isdev() or member.isfifo():
            return self.refuse(name, "device file (a release holds regular files only)")
        if member.isdir():
            return None
        if not member.isfile():
            return self.refuse(name, "not a regular file")
        if name in self.seen:
            return self.refuse(name, "stored twice")
        self.seen.add(name)
        if self.manifest is None and name != "manifest.yml":
            raise PackageRefused(self.name, self.problems + [PolicyViolation(
                "manifest.yml", "must be the package's first member (the manifest vouches for what follows)")])
        limit = _kept_limit(name)
        source = tar.extractfile(member)
        if limit is not None:
            data = source.read(limit + 1)
            if len(data) > limit:
                return self.refuse(name, f"larger than {limit >> 20} MiB")
            if name == "manifest.yml":
                return self._manifest(data)
            self.kept[name] = data
            if name.startswith("sql/") and self.staging and name in self.expected:
                (self.staging / "sql").mkdir(exist_ok=True)
                fd = os.open(self.staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            digest = hashlib.sha256(data).hexdigest()
        elif name not in self.expected:
            return self.refuse(name, "in the package but not in the manifest")
        elif self.staging:
            digest, size = _write_member(source, self.staging / name, UNPACKED_LIMIT - self.unpacked)
            self.unpacked += size
        else:
            digest = _hash_member(source)
        item = self.expected.get(name)
        if item is not None and digest != item["sha256"]:
            self.refuse(name, "checksum does not match the manifest")
        return None

    def _manifest(self, data: bytes) -> None:
        try:
            manifest = yaml.safe_load(data)
        except yaml.YAMLError as error:
            raise PackageRefused(self.name, [PolicyViolation("manifest.yml", f"not YAML ({error})")]) from error
        schema = schema_problems(manifest)
        if schema:
            raise PackageRefused(self.name, schema)
        self.manifest = manifest
        if self.expected_release is not None and manifest["release"] != self.expected_release:
            self.refuse("manifest.yml", f"is release {manifest['release']}, expected release "
                                        f"{self.expected_release} (number out of sequence)")
        for item in manifest["files"]:
            member = f"files/{item['path']}"
            violation = check_path(item["path"], self.content_paths)
            if violation:
                self.refuse(member, violation.rule)
            else:
                self.expected[member] = item
        for item in manifest["sql"]:
            self.expected[f"sql/{item['script']}"] = item
        for path in manifest["deletions"]:
            violation = check_path(path, self.content_paths)
            if violation:
                self.refuse(f"deletion {path}", violation.rule)


def verify_package(path: Path, expected_release: int | None = None, sha256: str | None = None,
                   signature: bytes | None = None, signers: list[dict] | None = None,
                   content_paths=DEFAULT_CONTENT_PATHS, content_tables=DEFAULT_CONTENT_TABLES,
                   check_sql: bool = True, extract_to: Path | None = None, report: dict | None = None,
                   verdicts: Verdicts | None = None) -> dict:
    """Verify a package (and unpack it to `extract_to`); return its manifest or raise PackageRefused.

    `signers` (the agency's keys) makes the signature mandatory; `check_sql` needs sqlglot. An
    existing `extract_to` that holds exactly the verified tree is left as it is; anything else there
    (an older tree, one changed since, a link) is replaced. `report` receives `signed_by`, the
    principal whose key signed the package, and with `extract_to`, `unpacked`: whether it was
    (re)placed. `verdicts`: scripts the allow-list passed before (sql_policy.Verdicts).
    """
    name = path.name
    digest = hashlib.sha256()
    verifier = StreamVerifier(signature, signers) if signers is not None else None
    sinks = [digest.update] + ([verifier.feed] if verifier else [])
    staging = None
    if extract_to is not None:
        extract_to.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=extract_to.parent, prefix=f".{extract_to.name}."))
    reader = _Reader(name, expected_release, content_paths, staging)
    try:
        try:
            with open(path, "rb") as handle:
                tee = _Tee(handle, sinks)
                try:
                    with tarfile.open(fileobj=tee, mode="r|gz") as tar:
                        for member in tar:
                            reader.member(tar, member)
                except (OSError, EOFError, tarfile.TarError) as error:
                    reader.refuse(name, f"not a readable tar.gz ({error})")
                tee.drain()
        finally:
            refusal = verifier.finish() if verifier else None
        if sha256 and digest.hexdigest() != sha256:
            raise PackageRefused(name, [PolicyViolation(name, "its checksum differs from the register's (the package "
                                                              "was changed or replaced after it was registered)")])
        if refusal:
            raise PackageRefused(name, [PolicyViolation(name, refusal)])
        if report is not None and verifier:
            report["signed_by"] = verifier.principal
        if reader.manifest is None:
            raise PackageRefused(name, reader.problems + [PolicyViolation("manifest.yml", "missing")])
        _finish(reader, content_tables, check_sql, verdicts)
        if reader.problems:
            raise PackageRefused(name, reader.problems)
        if staging is not None:
            unpacked = _place(staging, reader.manifest, reader.kept["RELEASE.md"], extract_to)
            staging = None
            if report is not None:
                report["unpacked"] = unpacked
        return reader.manifest
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _finish(reader: _Reader, content_tables, check_sql: bool, verdicts: Verdicts | None = None) -> None:
    manifest = reader.manifest
    notes = reader.kept.get("RELEASE.md")
    if notes is None or hashlib.sha256(notes).hexdigest() != manifest["notes_sha256"]:
        reader.refuse("RELEASE.md", "missing or checksum does not match the manifest")
        declared = {}
    else:
        declared, problems = declarations(notes.decode("utf-8", "replace"))
        reader.problems += problems
        if declared != manifest.get("declares", {}):
            reader.refuse("manifest.yml", "its declarations differ from RELEASE.md's")
    for member in reader.expected:
        if member not in reader.seen:
            reader.refuse(member, "listed in the manifest but not in the package")
    if check_sql:
        for item in manifest["sql"]:
            data = reader.kept.get(f"sql/{item['script']}")
            if data is not None:
                reader.problems += sql_violations(f"sql/{item['script']}", data.decode("utf-8", "replace"),
                                                  content_tables, bool(declared.get("joomla_update")), verdicts)


def _place(staging: Path, manifest: dict, notes: bytes, dest: Path) -> bool:
    """Put the staged tree at `dest`, unless `dest` already is that very tree; whether it did."""
    for item in manifest["files"]:
        os.chmod(staging / "files" / item["path"], int(item["mode"], 8))
    for item in manifest["sql"]:
        os.chmod(staging / "sql" / item["script"], 0o644)
    (staging / "manifest.yml").write_bytes(manifest_bytes(manifest))
    (staging / "RELEASE.md").write_bytes(notes)
    os.chmod(staging, 0o755)
    if same_tree(staging, dest):
        shutil.rmtree(staging)
        return False
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    os.rename(staging, dest)
    return True


def same_tree(staged: Path, dest: Path) -> bool:
    """Whether `dest` is a real folder holding exactly what `staged` holds: the same names, kinds,
    modes and bytes, and no link anywhere (a tree changed after it was unpacked is unpacked again)."""
    if dest.is_symlink() or not dest.is_dir():
        return False

    def entries(root: Path) -> dict[str, tuple[int, int]]:
        found = {}
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                status = os.lstat(os.path.join(folder, name))
                size = status.st_size if stat.S_ISREG(status.st_mode) else 0  # a folder's size is its history
                found[os.path.relpath(os.path.join(folder, name), root)] = (status.st_mode, size)
        return found

    wanted, present = entries(staged), entries(dest)
    if wanted != present or os.stat(staged).st_mode != os.stat(dest).st_mode:
        return False
    return all(filecmp.cmp(staged / name, dest / name, shallow=False)
               for name, kind in wanted.items() if stat.S_ISREG(kind[0]))
