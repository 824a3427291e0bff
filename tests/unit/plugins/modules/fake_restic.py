#!/usr/bin/env python3
"""A stand-in for restic on PATH, for the unit tests of module hospital_copy: a repository is a
folder with a config and one JSON file per snapshot (every file's content). It answers the
commands the module gives (cat config, init, snapshots, backup [--dry-run], restore) with restic's
words and JSON, and logs each call (argv, and whether the password came by the environment) to
$FAKE_RESTIC_LOG. $FAKE_RESTIC_FAIL names a command that fails."""

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_RESTIC_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv, "password": os.environ.get("RESTIC_PASSWORD")}) + "\n")
    words, repo, i = [], None, 0
    while i < len(argv):
        if argv[i] == "--repo":
            repo, i = Path(argv[i + 1]), i + 2
        elif argv[i] == "-o":
            i += 2
        elif argv[i] == "--no-lock":
            i += 1
        else:
            words, i = words + [argv[i]], i + 1
    command = words[0]
    if os.environ.get("FAKE_RESTIC_FAIL") == command:
        print(f"Fatal: {command}: connection lost", file=sys.stderr)
        return 1
    if command == "init":
        repo.mkdir(parents=True, exist_ok=True)
        (repo / "config").write_text(os.environ["RESTIC_PASSWORD"])
        return 0
    if not (repo / "config").is_file():
        print(f"Fatal: unable to open config file: stat {repo}/config: no such file or directory\n"
              "Is there a repository at the following location?", file=sys.stderr)
        return 1
    if (repo / "config").read_text() != os.environ.get("RESTIC_PASSWORD"):
        print("Fatal: wrong password or no key found", file=sys.stderr)
        return 1
    snapshots = sorted((json.loads(p.read_text()) for p in repo.glob("snap-*.json")), key=lambda s: s["time"])
    tag = words[words.index("--tag") + 1] if "--tag" in words else None
    mine = [s for s in snapshots if tag is None or tag in s["tags"]]
    if command == "cat":
        print("{}")
    elif command == "snapshots":
        chosen = mine[-1:] if "--latest" in words else mine
        print(json.dumps([{k: s[k] for k in ("id", "short_id", "time", "tags")} for s in chosen]))
    elif command == "backup":
        excluded = [words[j + 1] for j, w in enumerate(words) if w == "--exclude"]
        paths = [w for j, w in enumerate(words[1:], 1) if not w.startswith("--") and words[j - 1] not in ("--tag", "--exclude")]
        files, dirs = {}, {}
        for top in paths:
            for root, folders, names in os.walk(top):
                folders[:] = [f for f in folders if os.path.join(root, f) not in excluded]
                # As restic does, a folder whose entries or times changed is a changed folder.
                dirs[root] = os.stat(root).st_mtime_ns
                for name in names:
                    path = os.path.join(root, name)
                    if path not in excluded:
                        files[path] = Path(path).read_text()
        parent = mine[-1] if mine else {"files": {}, "dirs": {}}
        new = [p for p in files if p not in parent["files"]]
        changed = [p for p in files if p in parent["files"] and parent["files"][p] != files[p]]
        short = f"{len(snapshots) + 1:08x}"
        summary = {"message_type": "summary", "files_new": len(new), "files_changed": len(changed),
                   "files_unmodified": len(files) - len(new) - len(changed),
                   "dirs_new": len(set(dirs) - set(parent["dirs"])),
                   "dirs_changed": len([d for d in dirs if d in parent["dirs"] and parent["dirs"][d] != dirs[d]]),
                   "data_added": sum(len(files[p]) for p in new + changed), "total_files_processed": len(files),
                   "total_bytes_processed": sum(map(len, files.values())), "snapshot_id": short}
        if "--dry-run" in words:
            summary["dry_run"] = True
        else:
            (repo / f"snap-{short}.json").write_text(json.dumps(
                {"id": short * 8, "short_id": short, "time": f"{time.time():.6f}", "tags": [tag], "files": files,
                 "dirs": dirs}))
        print(json.dumps({"message_type": "status", "percent_done": 1}))
        print(json.dumps(summary))
    elif command == "restore":
        chosen = [s for s in snapshots if s["id"] == words[1]]
        target = Path(words[words.index("--target") + 1])
        includes = [words[j + 1] for j, w in enumerate(words) if w == "--include"]
        for path in chosen[0]["dirs"]:
            if any(path == inc or path.startswith(inc.rstrip("/") + "/") for inc in includes):
                (target / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        for path, content in chosen[0]["files"].items():
            if any(path == inc or path.startswith(inc.rstrip("/") + "/") for inc in includes):
                out = target / path.lstrip("/")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(content)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
