#!/usr/bin/env python3
"""`make demo`: a release travels Test, Acceptance, the webmaster's approval and Production.

Runs the project's own playbooks against the simulated street (provisioned by `make site`)
and tells the story: which step, which environment, which release, what changed.
"""

import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from street.show import main as show  # noqa: E402
from tests.integration import street  # noqa: E402

RELEASES = street.ROOT / "examples" / "releases"
# The street's test SMTP server (the street's inventory sends the controller's mails to it): the
# story shows who was told what.
MAIL = street.MailSink()
BOLD, DIM, RED, END = ("\033[1m", "\033[2m", "\033[31m", "\033[0m") if sys.stdout.isatty() else ("",) * 4


def say(text: str) -> None:
    print(f"\n{BOLD}{text}{END}")


def unquoted(text: str) -> str:
    return text[1:-1].replace("''", "'") if len(text) > 1 and text[0] == text[-1] == "'" else text


def messages(output: str):
    """The `msg` of every debug and assert in a run's output (YAML, wrapped lines joined again)."""
    lines = output.splitlines()
    for number, line in enumerate(lines):
        found = re.match(r"^(\s+)msg:\s?(.*)$", line)
        if not found:
            continue
        indent, first, block = len(found.group(1)), found.group(2), []
        for more in lines[number + 1:]:
            depth = len(more) - len(more.lstrip())
            if not more.strip() or depth < indent or (depth == indent and not more.lstrip().startswith("- ")):
                break
            block.append(more.strip())
        if first in ("|", "|-", ">", ">-"):
            yield from block
        elif first:
            yield unquoted(" ".join([first] + block))
        else:
            items: list[str] = []
            for part in block:
                if part.startswith("- "):
                    items.append(part[2:])
                elif items:
                    items[-1] += " " + part
            yield from (unquoted(item) for item in items)


def run(who: str, what: str, name: str, **extra_vars) -> street.Run:
    print(f"  {who}: {what}")
    print(f"  {DIM}$ ansible-playbook playbooks/{name}.yml "
          + " ".join(f"-e {k}={v}" for k, v in extra_vars.items()) + END)
    seen = len(MAIL.messages)
    result = street.playbook(name, **extra_vars)
    for message in messages(result.output):
        if not message.startswith(("All assertions", "Task failed")):
            print(f"    {message}")
    for mail in MAIL.messages[seen:]:
        print(f"    mail to {', '.join(mail['to'])}: {mail['subject']}")
    changes = result.changed
    print(f"    -> {'failed' if result.rc else 'done'}; {changes} change(s) on the street")
    if result.rc:
        print(RED + result.output[-4000:] + END)
        sys.exit(result.rc)
    return result


def newest_release() -> int:
    """The release the story takes to Production: the newest registered one that was not withdrawn
    (release 4 of the examples on a fresh street; a newer one on a street that tests have used)."""
    text = street.host("store").check_output("cat /srv/otap-store/register/releases.yml")
    return max(int(e["release"]) for e in yaml.safe_load(text)["releases"] if not e.get("withdrawn"))


def main() -> None:
    with MAIL:
        story()


def story() -> None:
    say("Step 1. The agency builds numbered release packages and stores them at the agreed place")
    for source in sorted(p.name for p in RELEASES.iterdir()):
        run("site developer", f"package examples/releases/{source}", "package",
            otap_package_src=RELEASES / source)

    newest = newest_release()
    say("Step 2. Before work starts on Test, operations brings it level with Production (the developer asked);"
        " Production's personal data is scrubbed before Test ever serves it")
    run("operations", "sync test from production", "sync", otap_env="test")

    say(f"Step 3. The agency rolls release {newest} out on Test (Test gets every release up to it)")
    run("site developer", f"release {newest} to test", "release", otap_env="test", otap_release=newest)

    say(f"Step 4. Operations rolls release {newest} out on Acceptance, for the webmaster to test")
    run("operations", f"release {newest} to acceptance", "release", otap_env="acceptance", otap_release=newest)

    say("Step 5. Production without the webmaster's approval is refused")
    result = street.playbook("release", otap_env="production", otap_release=newest)
    approved = result.rc == 0
    refusal = re.search(r"(Release \d+ is not approved for production[^(]*)", " ".join(result.output.split()))
    print(f"  operations: release {newest} to production -> "
          + (refusal.group(1).strip() if refusal else "already approved earlier, so it went through"))

    say(f"Step 6. The webmaster tested release {newest} on Acceptance and approves it")
    run("webmaster carla", f"approve release {newest}", "approve", otap_release=newest, otap_approver="carla")

    say(f"Step 7. Operations rolls release {newest} out on the Production pair (both nodes, SQL once, site up)")
    if not approved:
        run("operations", f"release {newest} to production", "release", otap_env="production", otap_release=newest)
    else:
        print("  (production already had it)")

    holder = street.vip_holder()
    say(f"Step 8. Operations moves the Production primary and the VIP away from {holder} (planned maintenance);"
        " a visitor keeps reading and voting on the VIP meanwhile")
    with street.Probe(street.vip()) as visitor:
        run("operations", "switch the production pair over", "failover", otap_action="switchover")
    print(f"    the visitor: {len(visitor.results)} requests, {len(visitor.failures)} failed, "
          f"{visitor.writes} votes taken, longest wait {visitor.longest_gap():.1f} s; the VIP is on {street.vip_holder()} now")

    say("Where the street stands now")
    show()
    print(f"\n{BOLD}Production answers on its VIP: http://{street.vip()}/{END}")


if __name__ == "__main__":
    main()
