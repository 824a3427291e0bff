# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release packages: build one from a source folder (verification: module_utils/package_verify).

A package is `release-<N>.tar.gz` holding `manifest.yml` (first), `RELEASE.md`, `files/` (changed
files, relative to the Joomla root) and `sql/` (update scripts, applied in name order). The
manifest lists every file with its sha256 and mode, the deletions, the SQL scripts with their
sha256, and what RELEASE.md declares (a Joomla update, content changes). The agency signs the
package (module_utils/signature); verification trusts nothing the manifest does not vouch for.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import stat
import tarfile
from pathlib import Path

from ansible_collections.otap.street.plugins.module_utils.pyyaml import yaml
from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    DEFAULT_CONTENT_PATHS,
    DEFAULT_CONTENT_TABLES,
    PolicyViolation,
    check_path,
)
from ansible_collections.otap.street.plugins.module_utils.sql_policy import Verdicts, sql_violations

SOURCE_ENTRIES = {"RELEASE.md", "files", "sql", "delete.txt"}
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PackageRefused(Exception):
    """A package or source folder breaks the policy; carries every violation found."""

    def __init__(self, subject: str, violations: list[PolicyViolation]):
        self.subject = subject
        self.violations = violations
        super().__init__(f"{subject} refused: " + "; ".join(str(v) for v in violations))


def release_number(value) -> int:
    """A release number as the register writes it: a positive int, or ASCII digits (no sign, no
    leading zero); anything else (a bool, a float, other digits, a path) raises ValueError."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**9:
        return value
    if isinstance(value, str) and re.fullmatch(r"[1-9][0-9]{0,8}", value):
        return int(value)
    raise ValueError(f"release {value!r} is not a release number")


def manifest_bytes(manifest: dict) -> bytes:
    return yaml.safe_dump(manifest, sort_keys=False).encode()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_TRAILER = re.compile(r"^(Joomla-Update|Content-Changes|Answers|Urgent):[ \t]*(.*?)[ \t]*$", re.M | re.I)
_ANSWER = re.compile(r"(incident|request) ([1-9][0-9]*)", re.I)


def declarations(notes: str) -> tuple[dict, list[PolicyViolation]]:
    """What RELEASE.md declares in its trailer lines, and what is wrong with them.

    `Joomla-Update: <what>` says the release carries a Joomla core or extension update (its SQL may
    then delete rows it names and drop or rename columns of content tables); `Content-Changes:
    #__menu, #__modules` names the content tables whose rows the release means to change;
    `Answers: incident 3, request 5` names the incidents and change requests the release solves
    (going live on Production resolves them); `Urgent: <why>` declares the release the urgent fix of
    an incident it answers (the expedited path: the same street, the webmaster asked at once).
    """
    declared: dict = {}
    problems = []
    for key, value in _TRAILER.findall(notes):
        key = key.lower()
        if key == "joomla-update":
            if not value:
                problems.append(PolicyViolation("RELEASE.md", "Joomla-Update: says which update (core 5.2.1, an extension)"))
            declared["joomla_update"] = (declared.get("joomla_update", "") + "; " + value).strip("; ")
        elif key == "urgent":
            if not value:
                problems.append(PolicyViolation("RELEASE.md", "Urgent: says why it cannot wait (the site incident it fixes)"))
            declared["urgent"] = (declared.get("urgent", "") + "; " + value).strip("; ")
        elif key == "answers":
            named = [a.strip() for a in value.split(",") if a.strip()]
            for answer in named:
                if not _ANSWER.fullmatch(answer):
                    problems.append(PolicyViolation("RELEASE.md", f"Answers: {answer!r} is not 'incident N' or 'request N'"))
            answers = {" ".join(a.lower().split()) for a in named if _ANSWER.fullmatch(a)}
            declared["answers"] = sorted(set(declared.get("answers", [])) | answers,
                                         key=lambda a: (a.split()[0], int(a.split()[1])))
        else:
            tables = [t.strip() for t in value.split(",") if t.strip()]
            for table in tables:
                if not re.fullmatch(r"#__[A-Za-z0-9_]+", table):
                    problems.append(PolicyViolation("RELEASE.md", f"Content-Changes: {table!r} is not a table name #__name"))
            declared["content_changes"] = sorted(set(declared.get("content_changes", [])) | set(tables))
    if "urgent" in declared and not any(a.startswith("incident ") for a in declared.get("answers", [])):
        problems.append(PolicyViolation("RELEASE.md", "Urgent: only the fix of a site incident is urgent; "
                                                      "say which with Answers: incident N"))
    return declared, problems


def release_title(notes: str) -> str:
    first = notes.strip().splitlines()[0] if notes.strip() else ""
    return first.lstrip("#").strip()


def read_deletions(text: str) -> list[str]:
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _file_kind(mode: int) -> str | None:
    if stat.S_ISLNK(mode):
        return "link (a release holds regular files only)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file (a release holds regular files only)"
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "fifo or socket (a release holds regular files only)"
    return None


def scan_source(src: Path, release: int, previous: int, author: str, date: str,
                content_paths=DEFAULT_CONTENT_PATHS, content_tables=DEFAULT_CONTENT_TABLES,
                check_sql: bool = True, verdicts: Verdicts | None = None) -> dict:
    """Check a release source folder against the policy and return its manifest.

    `check_sql=False` skips the SQL allow-list: only the tests use it, to build a hostile package.
    `verdicts`: scripts the allow-list passed before (sql_policy.Verdicts).
    """
    problems: list[PolicyViolation] = []
    if not src.is_dir():
        raise PackageRefused(str(src), [PolicyViolation(str(src), "not a folder")])
    for entry in sorted(os.listdir(src)):
        if entry not in SOURCE_ENTRIES and not entry.startswith("."):
            problems.append(PolicyViolation(entry, "unexpected entry (a source holds RELEASE.md, files/, sql/, delete.txt)"))

    notes_path = src / "RELEASE.md"
    notes = notes_path.read_text(encoding="utf-8") if notes_path.is_file() else ""
    if not notes_path.is_file():
        problems.append(PolicyViolation("RELEASE.md", "missing (release notes: title on the first line, then what changed and how to roll out)"))
    elif not release_title(notes):
        problems.append(PolicyViolation("RELEASE.md", "empty title (the first line says what the release is)"))
    declared, declaration_problems = declarations(notes)
    problems += declaration_problems

    files = []
    files_dir = src / "files"
    if files_dir.exists():
        for root, dirs, names in os.walk(files_dir, followlinks=False):
            dirs.sort()
            for name in sorted(names) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                full = Path(root) / name
                rel = full.relative_to(files_dir).as_posix()
                kind = _file_kind(full.lstat().st_mode)
                violation = PolicyViolation(f"files/{rel}", kind) if kind else check_path(rel, content_paths)
                if violation:
                    problems.append(violation if kind else PolicyViolation(f"files/{rel}", violation.rule))
                    continue
                mode = "0755" if full.stat().st_mode & stat.S_IXUSR else "0644"
                files.append({"path": rel, "sha256": sha256_file(full), "mode": mode})

    scripts = []
    sql_dir = src / "sql"
    if sql_dir.exists():
        for name in sorted(os.listdir(sql_dir)):
            full = sql_dir / name
            kind = _file_kind(full.lstat().st_mode)
            if kind or not name.endswith(".sql") or not full.is_file():
                problems.append(PolicyViolation(f"sql/{name}", kind or "not an .sql file"))
                continue
            text = full.read_text(encoding="utf-8")
            if check_sql:
                problems += sql_violations(f"sql/{name}", text, content_tables, bool(declared.get("joomla_update")),
                                           verdicts)
            scripts.append({"script": name, "sha256": sha256_file(full)})

    deletions = []
    delete_txt = src / "delete.txt"
    if delete_txt.is_file():
        shipped = {f["path"] for f in files}
        for path in read_deletions(delete_txt.read_text(encoding="utf-8")):
            violation = check_path(path, content_paths)
            if violation:
                problems.append(PolicyViolation(f"delete.txt: {path}", violation.rule))
            elif path in shipped:
                problems.append(PolicyViolation(f"delete.txt: {path}", "both shipped in files/ and deleted"))
            else:
                deletions.append(path)

    if not problems and not (files or scripts or deletions):
        problems.append(PolicyViolation(str(src), "empty release (no files, no SQL, no deletions)"))
    if problems:
        raise PackageRefused(str(src), problems)
    return {
        "release": release,
        "previous": previous,
        "date": date,
        "title": release_title(notes),
        "author": author,
        "notes_sha256": sha256_bytes(notes.encode("utf-8")),
        "files": files,
        "deletions": deletions,
        "sql": scripts,
        "declares": declared,
    }


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def write_package(src: Path, manifest: dict, dest: Path, mtime: int) -> str:
    """Write the package as a reproducible tar.gz (same input, same bytes); return its sha256."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "manifest.yml", manifest_bytes(manifest), 0o644, mtime)
        _add(tar, "RELEASE.md", (src / "RELEASE.md").read_bytes(), 0o644, mtime)
        for item in manifest["files"]:
            _add(tar, f"files/{item['path']}", (src / "files" / item["path"]).read_bytes(), int(item["mode"], 8), mtime)
        for item in manifest["sql"]:
            _add(tar, f"sql/{item['script']}", (src / "sql" / item["script"]).read_bytes(), 0o644, mtime)
    data = io.BytesIO()
    with gzip.GzipFile(fileobj=data, mode="wb", mtime=0) as zipped:
        zipped.write(raw.getvalue())
    dest.write_bytes(data.getvalue())
    return sha256_bytes(data.getvalue())


def schema_problems(manifest) -> list[PolicyViolation]:
    def bad(rule):
        return PolicyViolation("manifest.yml", rule)

    if not isinstance(manifest, dict):
        return [bad("not a mapping")]
    problems = []
    for key, kind in (("release", int), ("previous", int), ("date", str), ("title", str), ("author", str),
                      ("notes_sha256", str), ("files", list), ("deletions", list), ("sql", list)):
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            problems.append(bad(f"'{key}' missing or not a {kind.__name__}"))
    if problems:
        return problems
    if manifest["release"] < 1 or manifest["previous"] != manifest["release"] - 1:
        problems.append(bad(f"release {manifest['release']} does not follow release {manifest['previous']}"))
    for item in manifest["files"]:
        if not (isinstance(item, dict) and isinstance(item.get("path"), str) and SHA256.match(str(item.get("sha256")))
                and item.get("mode") in ("0644", "0755")):
            problems.append(bad(f"file entry {item!r} needs path, sha256 and mode 0644/0755"))
    for item in manifest["sql"]:
        if not (isinstance(item, dict) and isinstance(item.get("script"), str) and SHA256.match(str(item.get("sha256")))):
            problems.append(bad(f"sql entry {item!r} needs script and sha256"))
    if not all(isinstance(path, str) for path in manifest["deletions"]):
        problems.append(bad("deletions must be paths"))
    if not isinstance(manifest.get("declares", {}), dict):
        problems.append(bad("'declares' must be a mapping"))
    return problems
