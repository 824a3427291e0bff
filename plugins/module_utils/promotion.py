# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The promotion rules of the procedure: what may go where, and what an approval must hold.

Pure functions over the store's records (register, deployments, approvals), so each rule has a
unit test; module release_gate reads the records and applies them.
"""

from __future__ import annotations

ORDER = ("test", "acceptance", "production")


def entry_of(register: list[dict], release: int) -> dict | None:
    return next((e for e in register if int(e.get("release", 0)) == release), None)


def reached(deployments: list[dict], env: str) -> int:
    return max((int(d["release"]) for d in deployments if d.get("env") == env and d.get("result") == "done"),
               default=0)


def carried(deployments: list[dict], env: str, release: int) -> list[dict]:
    """The successful rollouts on `env` that brought `release` (a rollout may carry several releases)."""
    return [d for d in deployments if d.get("env") == env and d.get("result") == "done"
            and int(d.get("from_release", 0)) < release <= int(d["release"])]


def undeclared_changes(deployments: list[dict], release: int) -> list[dict]:
    """Content changes the Acceptance guard saw in a rollout carrying `release` that RELEASE.md did not declare."""
    return [change for d in carried(deployments, "acceptance", release)
            for change in d.get("content_changes", []) if not change.get("declared")]


def describe(change: dict) -> str:
    """One content change the Acceptance guard saw, in words."""
    text = (f"{change['table']} ({change.get('rows_changed_or_removed', '?')} of {change.get('rows_before', '?')} "
            f"rows changed or removed, ")
    if "rows_new" in change:  # records from before the guard counted rows added
        text += f"{change['rows_new']} new or rewritten, "
    text += f"{change.get('rows_after', '?')} rows after"
    if change.get("columns_removed"):
        text += ", columns removed: " + ", ".join(change["columns_removed"])
    if change.get("redefined"):
        text += ", definition changed: " + ", ".join(change["redefined"])
    return text + (", table removed)" if change.get("vanished") else ")")


def rollout_refusals(env: str, release: int, register: list[dict], deployments: list[dict],
                     approval: dict | None) -> list[str]:
    """Why `release` may not be rolled out on `env` now (empty: it may)."""
    entry = entry_of(register, release)
    if entry is None:
        return [f"Release {release} is not in the register: build it with playbooks/package.yml first"]
    if entry.get("withdrawn"):
        return [f"Release {release} was withdrawn ({entry['withdrawn'].get('reason', 'no reason given')})"]
    refusals = []
    if env == "acceptance" and reached(deployments, "test") < release:
        refusals.append(f"Release {release} is not on test yet: run playbooks/release.yml -e otap_env=test "
                        f"-e otap_release={release} first")
    if env == "production":
        if reached(deployments, "acceptance") < release:
            refusals.append(f"Release {release} is not on acceptance yet: run playbooks/release.yml "
                            f"-e otap_env=acceptance -e otap_release={release} first, and let the webmaster test "
                            "and approve it")
        elif approval is None:
            refusals.append(f"Release {release} is not approved for production: the webmaster approves it after "
                            f"testing on acceptance, with playbooks/approve.yml -e otap_release={release}")
        elif approval.get("sha256") != entry.get("sha256"):
            refusals.append(f"Release {release}'s package is not the one the webmaster approved (approved "
                            f"{str(approval.get('sha256'))[:12]}, registered {str(entry.get('sha256'))[:12]}): the "
                            "webmaster approves this package again after testing it on acceptance")
    return refusals


def served_refusals(release: int, served: dict[str, dict], package: str) -> list[str]:
    """Why what Acceptance serves now is not release `release` as packaged (empty: it is).

    `served`: per Acceptance host, read from the host: `release` (the code `current` points to),
    `database` (the release its database records), `sql` (the highest release whose SQL it ran) and
    `package` (the checksum of the manifest the served tree was staged from). `package`: that checksum of the registered package. What is
    approved is what the webmaster tested: this very release now, not an earlier one (after a
    rollback or a sync) nor a later one that carries it, its SQL applied and no later release's,
    staged from this package."""
    if not served:
        return [f"Acceptance does not serve release {release} now (no acceptance host answered): what is approved "
                "must be what is tested there"]
    refusals = []
    code = {host: int(h.get("release", 0)) for host, h in sorted(served.items())}
    other = {host: number for host, number in code.items() if number != release}
    if other:
        now = ", ".join(f"{host} serves release {number or 'none'}" for host, number in other.items())
        refusals.append(f"Acceptance does not serve release {release} now ({now}): what is approved must be what is "
                        f"tested there; roll release {release} out on acceptance (playbooks/release.yml or rollback.yml "
                        f"-e otap_env=acceptance -e otap_release={release}), test it, then approve")
    for host, h in sorted(served.items()):
        if host in other:
            continue
        if int(h.get("database", 0)) != release:
            refusals.append(f"{host}'s database records release {h.get('database') or 'none'}, not {release}: the site "
                            "tested is not the release's code on its own database; roll release "
                            f"{release} out on acceptance again, test it, then approve")
        elif int(h.get("sql", 0)) > release:
            refusals.append(f"{host}'s database ran the SQL of release {h['sql']} (a rollback returns the code, not the "
                            f"schema): what was tested is release {release}'s code on a later schema; sync acceptance "
                            f"from production (playbooks/sync.yml -e otap_env=acceptance), roll release {release} out "
                            "there again, test it, then approve")
        if h.get("package") != package:
            refusals.append(f"{host} serves release {release} staged from another package than the registered one "
                            f"(staged {str(h.get('package') or 'unknown')[:12]}, registered {package[:12]}): roll "
                            f"release {release} out on acceptance again, test it, then approve")
    return refusals


def approver_refusals(approver: str, webmasters: list[str]) -> list[str]:
    """Why `approver` may not approve for Production (empty: they may): only the webmaster's party."""
    if not webmasters:
        return ["No webmaster is named in otap_people (webmaster: a list of people, each with a name): nobody may "
                "approve for production"]
    if not approver:
        return [f"Say who approves (-e otap_approver=NAME; in AWX, the job's user): only the webmaster's party does "
                f"({', '.join(webmasters)}, in otap_people)"]
    if approver not in webmasters:
        return [f"{approver} may not approve for production: only the webmaster's party does "
                f"({', '.join(webmasters)}, in otap_people)"]
    return []


def approval_refusals(release: int, register: list[dict], deployments: list[dict],
                      accept_content_changes: bool) -> list[str]:
    """Why the webmaster may not approve `release` for Production by the store's records (empty: they may).
    What Acceptance serves now is served_refusals' part."""
    entry = entry_of(register, release)
    if entry is None or entry.get("withdrawn"):
        return [f"Release {release} is not in the register or was withdrawn: nothing to approve"]
    if reached(deployments, "acceptance") < release:
        return [f"Release {release} has not been on acceptance: roll it out there first (playbooks/release.yml "
                f"-e otap_env=acceptance -e otap_release={release}) and test it"]
    changes = undeclared_changes(deployments, release)
    if changes and not accept_content_changes:
        named = ", ".join(describe(c) for c in changes)
        return [f"On acceptance, release {release}'s SQL changed content its RELEASE.md did not declare: {named}. "
                "Check the content on acceptance; to approve this change explicitly, run approve.yml again with "
                "-e otap_accept_content_changes=true"]
    return []


def accepted_tables(approval: dict | None) -> list[str]:
    """The content tables whose undeclared changes an approval accepted (none without one)."""
    return sorted({str(c["table"]) for c in (approval or {}).get("content_changes_accepted") or []
                   if isinstance(c, dict) and c.get("table")})


def declared_content(register: list[dict], deployments: list[dict], release: int) -> list[dict]:
    """What the releases a Production rollout of `release` would carry declare they change in
    content (RELEASE.md Content-Changes:), each {release, tables}: every registered release past
    the one Production has reached, up to `release`, that declares any."""
    since = reached(deployments, "production")
    return [{"release": int(e["release"]), "tables": sorted(map(str, e["content_changes"]))}
            for e in sorted(register, key=lambda e: int(e.get("release", 0)))
            if since < int(e.get("release", 0)) <= release and not e.get("withdrawn") and e.get("content_changes")]


def agreed_tables(approval: dict | None) -> list[str] | None:
    """The content tables an approval agreed the SQL may write on Production: those the releases
    it shows declare, and those whose changes it accepted; None for an approval from before
    approvals showed declarations (the releases' own declarations count then)."""
    if approval is None or "content_declared" not in approval:
        return None
    declared = {str(t) for d in approval.get("content_declared") or [] if isinstance(d, dict)
                for t in d.get("tables") or []}
    return sorted(declared | set(accepted_tables(approval)))


def approval_record(release: int, register: list[dict], deployments: list[dict], approver: str, date: str,
                    note: str, recorded_by: str = "") -> dict:
    """What the store keeps of an approval: the package approved (checksum), who approved it and the
    account that ran the approval."""
    entry = entry_of(register, release) or {}
    record = {"release": release, "sha256": entry.get("sha256", ""), "approved_by": approver, "approved_at": date,
              "note": note}
    if recorded_by:
        record["recorded_by"] = recorded_by
    if entry.get("joomla_update"):
        record["joomla_update"] = entry["joomla_update"]
    changes = undeclared_changes(deployments, release)
    if changes:
        record["content_changes_accepted"] = changes
    # What the rollout may write in content on Production is what the webmaster was shown here.
    record["content_declared"] = declared_content(register, deployments, release)
    return record
