"""Access to the simulated street for the Molecule scenarios' testinfra tests.

Everything is read from the same inventory the playbooks use (inventories/docker), so the
tests follow the inventory instead of repeating its addresses.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import testinfra

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "docker"


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


@cache
def inventory() -> dict:
    out = subprocess.run(
        ["ansible-inventory", "-i", str(INVENTORY), "--list"],
        check=True, capture_output=True, text=True, env=ansible_env(), cwd=ROOT,
    ).stdout
    return json.loads(out)


def group(name: str) -> list[str]:
    return sorted(inventory()[name]["hosts"])


def hostvar(host: str, name: str):
    return inventory()["_meta"]["hostvars"][host][name]


def module(pattern: str, name: str, args: dict) -> dict[str, dict]:
    """Run one module ad hoc on the hosts of `pattern`; its result per host."""
    env = ansible_env() | {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
    out = subprocess.run(
        ["ansible", "-i", str(INVENTORY), pattern, "-m", name, "-a", json.dumps(args)],
        check=False, capture_output=True, text=True, env=env, cwd=ROOT,
    ).stdout
    result = json.loads(out[out.index("{"):])
    return result["plays"][0]["tasks"][0]["hosts"]


@cache
def templated_vars(names: tuple[str, ...]) -> dict[str, dict[str, object]]:
    """Variables as the playbooks see them (templated), per host, via ansible's debug module."""
    expr = "{{ {" + ", ".join(f"'{n}': {n} | default(omit)" for n in names) + "} }}"
    return {host: r["msg"] for host, r in module("all", "ansible.builtin.debug", {"msg": expr}).items()}


def host(name: str):
    """A testinfra host reached over SSH with the inventory's own connection settings."""
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


@dataclass
class Page:
    status: int
    body: str

    def meta(self, name: str) -> str | None:
        match = re.search(rf'<meta name="{re.escape(name)}" content="([^"]*)"', self.body)
        return match.group(1) if match else None

    @property
    def title(self) -> str | None:
        match = re.search(r"<title>(.*?)</title>", self.body, re.S)
        return match.group(1) if match else None


def get(url: str, timeout: float = 5.0) -> Page:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return Page(response.status, response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        return Page(error.code, error.read().decode("utf-8", "replace"))


def vip() -> str:
    return hostvar(group("production")[0], "keepalived_vip").split("/")[0]


@dataclass
class Run:
    rc: int
    output: str

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counters per host, summed over the plays of the run."""
        totals: dict[str, dict[str, int]] = {}
        for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", self.output, re.M):
            for key, value in re.findall(r"(\w+)=(\d+)", counters):
                totals.setdefault(host, {}).setdefault(key, 0)
                totals[host][key] += int(value)
        return totals

    @property
    def changed(self) -> int:
        return sum(c.get("changed", 0) for c in self.recap.values())


def playbook(name: str, *args: str, **extra_vars) -> Run:
    """Run one of the project's playbooks against the street, as a user would."""
    command = ["ansible-playbook", f"playbooks/{name}.yml", *args]
    if extra_vars:
        command += ["-e", json.dumps({key: str(value) for key, value in extra_vars.items()})]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=ansible_env(), check=False)
    return Run(done.returncode, done.stdout + done.stderr)


def state_of(names: list[str], site_root: str = "/var/www/portal", database: str = "portal") -> dict[str, str]:
    """A checksum of each node's docroot tree (names, links, sizes, modes) and of its database."""
    tree = (f"find {site_root} -printf '%p %l %s %m\\n' | sort | sha256sum; "
            f"mysqldump --skip-dump-date --skip-comments {database} | sha256sum")
    return {name: host(name).check_output(tree) for name in names}


class MailSink:
    """A real SMTP server on the controller's loopback that keeps what it receives."""

    def __init__(self, port: int = 2525):
        from aiosmtpd.controller import Controller

        self.port, self.messages = port, []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                body = "".join(part.get_content() for part in message.walk()
                               if part.get_content_type() == "text/plain")
                sink.messages.append({"to": list(envelope.rcpt_tos), "subject": str(message["subject"]),
                                      "body": body})
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def __enter__(self):
        self._controller.start()
        return self

    def __exit__(self, *exc):
        self._controller.stop()
