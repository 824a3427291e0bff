"""Access to the simulated street for the Molecule scenarios' testinfra tests.

Everything is read from the same inventory the playbooks use (inventories/docker), so the
tests follow the inventory instead of repeating its addresses.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import random
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import testinfra

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "docker"
# The street's vaults (the sites', the store's) and their documented demo password.
VAULTS = [INVENTORY / "group_vars" / group / "vault.yml" for group in ("joomla", "release_store")]
VAULT_PASSWORD = ROOT / "street" / "vault-password"
# testinfra reads the inventory in this process's environment: the vault must open there too.
os.environ.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(VAULT_PASSWORD))
# Every run of playbook() in the Molecule tests (VERBOSE, set by their conftest: -v's output; make
# demo's stays plain and is not kept): its output, one file per run in OTAP_TEST_RUNS, for the
# test that searches them all for secrets. The scenarios run in processes of their own, so the
# runs are kept in files; `make molecule` empties the folder before the suite.
RUNS = Path(os.environ.get("OTAP_TEST_RUNS", ROOT / ".street" / "runs"))
VERBOSE = False


def keep_run(name: str, output: str) -> None:
    RUNS.mkdir(parents=True, exist_ok=True)
    kept = RUNS / f"{time.time_ns()}-{os.getpid()}-{name}.log"
    kept.touch(mode=0o600)
    kept.write_text(output, encoding="utf-8")


def kept_runs() -> list[tuple[str, str]]:
    """(playbook, output) of every run kept, oldest first."""
    return [(path.stem.split("-", 2)[2], path.read_text(encoding="utf-8")) for path in sorted(RUNS.glob("*.log"))]


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


@cache
def vault() -> dict:
    """The street's vault, opened with its documented demo password."""
    import yaml

    opened = {}
    for vault_file in VAULTS:
        plain = subprocess.run(["ansible-vault", "view", "--vault-password-file", str(VAULT_PASSWORD), str(vault_file)],
                               check=True, capture_output=True, text=True, cwd=ROOT).stdout
        opened |= yaml.safe_load(plain)
    return opened


def vault_secrets() -> set[str]:
    """Every value in the street's vaults (passwords, secrets, the development password's hash), and
    each line of the private key the store copies to the hospital with."""

    def leaves(value):
        if isinstance(value, dict):
            return {leaf for item in value.values() for leaf in leaves(item)}
        return {str(value)}

    key = Path(hostvar("store", "ansible_ssh_private_key_file")).expanduser().parent / "otap_street_hospital_copy"
    body = {line for line in key.read_text().splitlines() if line and not line.startswith("-----")}
    return leaves(vault()) | body


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


def primary() -> str:
    """The production node whose database is writable (exactly one, or the street is broken)."""
    writable = [name for name in group("production")
                if host(name).check_output("mysql -N -e 'SELECT @@global.read_only'") == "0"]
    assert len(writable) == 1, f"writable databases in production: {writable}"
    return writable[0]


def vip_holder() -> str | None:
    holders = [name for name in group("production")
               if f"inet {vip()}/" in host(name).check_output("ip -4 -o addr show")]
    return holders[0] if len(holders) == 1 else None


def vip() -> str:
    return hostvar(group("production")[0], "otap_vip")


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

    @property
    def changed_tasks(self) -> list[str]:
        """'task on host' for every task that reported a change."""
        found, task = [], ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                task = line[len("TASK ["):].rpartition("]")[0]
            elif line.startswith("changed: ["):
                found.append(f"{task} on {line[len('changed: ['):].partition(']')[0]}")
        return found


def playbook(name: str, *args: str, typed: dict[str, str] | None = None, **extra_vars) -> Run:
    """Run one of the project's playbooks against the street, as a user would (-v when VERBOSE).

    `typed` are answers a person typed, handed over as AWX hands survey answers: as data (a vars
    file with !unsafe), never as templates.
    """
    import tempfile

    command = ["ansible-playbook", f"playbooks/{name}.yml", *(["-v"] if VERBOSE else []), *args]
    if extra_vars:
        command += ["-e", json.dumps({key: value if isinstance(value, (dict, list)) else str(value)
                                      for key, value in extra_vars.items()})]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="otap-typed.") as answers:
        if typed:
            answers.write("".join(f"{key}: !unsafe {json.dumps(value)}\n" for key, value in typed.items()))
            answers.flush()
            command += ["-e", f"@{answers.name}"]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=ansible_env(), check=False)
    if VERBOSE:
        keep_run(name, done.stdout + done.stderr)
    return Run(done.returncode, done.stdout + done.stderr)


def wait_for(predicate, timeout: float, what: str):
    """The predicate's first true value within timeout seconds; the test fails naming what it waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout}s: {what}")


def uploads_level() -> bool:
    """Production's uploads replication has nothing left to copy: a dry run of its push on the
    primary (the command a switchover runs) lists no difference."""
    push = hostvar(group("production")[0], "failover_uploads_push")
    return host(primary()).check_output(f"{push} --dry-run") == ""


def on_node(name: str, command: str) -> str:
    """A command on a street host through Docker, not SSH: it works while the host's network is cut."""
    done = subprocess.run(["docker", "exec", f"otap-{name}", "sh", "-c", command],
                          capture_output=True, text=True, timeout=20, check=False)
    if done.returncode:
        raise RuntimeError(f"{name}: {command}: {done.stderr}")
    return done.stdout.strip()


@contextmanager
def cut_off(name: str, others: list[str]):
    """Every packet between host `name` and each of `others` dropped, both ways, while the `with`
    block lasts (on `name` alone); `name` still reaches the rest of the street."""
    table = "inet otap_test_cut"
    addresses = ", ".join(hostvar(other, "ansible_host") for other in others)
    on_node(name, f"nft -f - <<'EOF'\n"
                  f"table {table} {{\n"
                  f"  chain input {{ type filter hook input priority -50; ip saddr {{ {addresses} }} drop; }}\n"
                  f"  chain output {{ type filter hook output priority -50; ip daddr {{ {addresses} }} drop; }}\n"
                  f"}}\nEOF")
    try:
        yield
    finally:
        on_node(name, f"nft delete table {table}")


@contextmanager
def cut_between(nodes: list[str]):
    """Every packet between the nodes dropped, both ways, while the `with` block lasts; each node
    still reaches the rest of the street (the witness, the controller)."""
    with ExitStack() as cuts:
        for name in nodes:
            cuts.enter_context(cut_off(name, [other for other in nodes if other != name]))
        yield


def writers_and_holders() -> tuple[list[str], list[str]]:
    """Production's nodes whose database takes writes, and those holding the VIP, at this moment."""
    nodes = group("production")
    writers = [n for n in nodes if on_node(n, "mysql -N -e 'SELECT @@global.read_only'") == "0"]
    holders = [n for n in nodes if f"inet {vip()}/" in on_node(n, "ip -4 -o addr show")]
    return writers, holders


class WritableTimeline:
    """Whether each production node's database takes writes, sampled on the node itself about ten
    times a second while the `with` block lasts (at most `seconds`). The containers share the
    host's clock, so the nodes' samples line up: both_writable() is how long two databases took
    writes at once. A sample that could not read read_only counts as writable: an unread state
    never passes for a safe one."""

    LOOP = ("end=$(($(date +%s) + {seconds})); while [ $(date +%s) -lt $end ] && [ ! -e /run/otap-test-stop ]; "
            "do echo \"$(date +%s.%N) $(mysql -N -e 'SELECT @@global.read_only')\"; sleep 0.1; done; "
            "rm -f /run/otap-test-stop")

    def __init__(self, seconds: int = 120):
        self.seconds, self.samples = seconds, {}
        self._watchers: dict[str, subprocess.Popen] = {}

    def __enter__(self):
        for name in group("production"):
            self._watchers[name] = subprocess.Popen(
                ["docker", "exec", f"otap-{name}", "sh", "-c", self.LOOP.format(seconds=self.seconds)],
                stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc):
        for name in self._watchers:
            on_node(name, "touch /run/otap-test-stop")
        for name, watcher in self._watchers.items():
            out, _ = watcher.communicate(timeout=30)
            self.samples[name] = [(float(line.split()[0]), line.split()[1:] != ["1"]) for line in out.splitlines()]

    def spans(self, name: str) -> list[tuple[float, float]]:
        """When `name` took, or may have taken, writes: from each sample that found it writable to
        the next sample, and from the sample before it (a change between two samples is unseen)."""
        samples = self.samples[name]
        return [(a, b) for (a, took_a), (b, took_b) in zip(samples, samples[1:]) if took_a or took_b]

    def both_writable(self) -> float:
        """Seconds in which two databases took, or may have taken, writes at once."""
        first, second = (self.spans(name) for name in self.samples)
        return sum(max(0.0, min(b1, b2) - max(a1, a2)) for a1, b1 in first for a2, b2 in second)

    def handover(self, old: str, new: str) -> float:
        """Seconds from `old`'s last writable sample to `new`'s first one after it."""
        last = max(t for t, took in self.samples[old] if took)
        return min(t for t, took in self.samples[new] if took and t > last) - last


def following(standby: str) -> bool:
    """The standby replicates (both threads running) and keepalived has it as BACKUP."""
    replica = on_node(standby, "mysql -e 'SHOW SLAVE STATUS\\G'")
    return ("Slave_IO_Running: Yes" in replica and "Slave_SQL_Running: Yes" in replica
            and on_node(standby, "cat /var/lib/keepalived-otap/state") == "BACKUP")


def partition(seconds: int = 30, settle: float = 150) -> tuple[list[tuple[list[str], list[str]]], float | None]:
    """Production's nodes cut apart for `seconds`, then healed: writers_and_holders() sampled every
    second throughout and until the pair has converged again (the primary the only writable
    database and VIP holder, the standby following; at most `settle` seconds); the samples, and
    the seconds from the heal to convergence (None when it did not converge)."""
    writer = primary()
    standby = next(n for n in group("production") if n != writer)
    samples = []
    with cut_between(group("production")):
        for _ in range(seconds):
            samples.append(writers_and_holders())
            time.sleep(1)
    healed = time.monotonic()
    while time.monotonic() - healed < settle:
        samples.append(writers_and_holders())
        if samples[-1] == ([writer], [writer]) and following(standby):
            return samples, time.monotonic() - healed
        time.sleep(1)
    return samples, None


def state_of(names: list[str], site_root: str = "/var/www/portal", database: str = "portal") -> dict[str, str]:
    """A checksum of each node's docroot tree (names, links, sizes, modes) and of its database."""
    tree = (f"find {site_root} -printf '%p %l %s %m\\n' | sort | sha256sum; "
            f"mysqldump --skip-dump-date --skip-comments {database} | sha256sum")
    return {name: host(name).check_output(tree) for name in names}


class MailSink:
    """A real SMTP server on the controller that keeps what it receives: on its loopback for the
    playbooks' mails, on the street's gateway for the mails the nodes send themselves."""

    def __init__(self, port: int = 2525, hostname: str = "127.0.0.1"):
        from aiosmtpd.controller import Controller

        # community.general.mail (secure: try) first tries TLS from the first byte; aiosmtpd logs the
        # TLS greeting it cannot read as a warning on stderr, which the demo would print as garbage.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
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

        self._controller = Controller(Handler(), hostname=hostname, port=port)

    def __enter__(self):
        self._controller.start()
        return self

    def __exit__(self, *exc):
        self._controller.stop()


class Probe:
    """A visitor on the VIP during an operation: several requests a second, reads (the front page)
    and writes (votes on one article of its own), each on a new connection, none retried.

    A request counts as failed when it gets no answer within `timeout` or an answer other than
    200 (or, for a read, a page without the site's release marker). `gaps` are the stretches in
    which requests waited or failed: the unavailability a visitor saw.
    """

    def __init__(self, address: str, per_second: float = 5.0, timeout: float = 15.0):
        self.address, self.interval, self.timeout = address, 1.0 / per_second, timeout
        self.article = random.randint(100_000, 999_999)
        self.results: list[dict] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _request(self, write: bool) -> dict:
        started = time.monotonic()
        data = f"task=article.vote&id={self.article}&user_rating=5".encode() if write else None
        try:
            request = urllib.request.Request(f"http://{self.address}/", data=data)
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read().decode("utf-8", "replace")
                ok = response.status == 200 and ("Votes:" in body if write else "otap-release" in body)
                status = response.status
        except urllib.error.HTTPError as error:
            ok, status = False, error.code
        except OSError as error:
            ok, status = False, repr(error)
        return {"start": started, "end": time.monotonic(), "write": write, "ok": ok, "status": status}

    def _run(self, write: bool) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.results.append(self._request(write))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self):
        self._threads = [threading.Thread(target=self._run, args=(write,), daemon=True) for write in (False, True)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    @property
    def failures(self) -> list[dict]:
        return [r for r in self.results if not r["ok"]]

    @property
    def writes(self) -> int:
        """Writes the site acknowledged."""
        return sum(1 for r in self.results if r["write"] and r["ok"])

    def longest_gap(self, writes: bool | None = None) -> float:
        """Seconds between the last answer before and the first answer after the worst stretch
        without a prompt answer (a request that took more than a second counts as waiting);
        of reads only (writes=False), writes only (True) or both (None)."""
        answered = sorted(r["end"] for r in self.results if r["ok"] and r["end"] - r["start"] <= 1.0
                          and writes in (None, r["write"]))
        return max((b - a for a, b in zip(answered, answered[1:])), default=0.0)

    def longest_wait(self) -> float:
        """The longest a visitor waited for an answer the site gave (a dropped SYN is sent again
        after 1 s, then 3 s: a hold of over a second costs its visitors three)."""
        return max((r["end"] - r["start"] for r in self.results if r["ok"]), default=0.0)

    def votes_on(self, name: str) -> int:
        out = host(name).check_output(
            f"mysql -N portal -e 'SELECT COALESCE(SUM(rating_count), 0) FROM jos_content_rating "
            f"WHERE content_id = {self.article}'")
        return int(out)


class Repeating:
    """Runs `step()` every `interval` seconds in a thread of its own while the `with` block lasts
    (again for each `with`); `timeout` bounds how long one step may still take at the end."""

    interval: float
    timeout: float

    def step(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.step()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.timeout + 5)


def article_insert(title: str, alias: str, introtext: str = "") -> str:
    """The SQL of a published article in the test site's category, as Joomla's editor saves it."""
    return ("INSERT INTO jos_content (title, alias, introtext, `fulltext`, state, catid, created, modified) "
            f"VALUES ('{title}', '{alias}', '{introtext}', '', 1, 2, NOW(), NOW())")


class Editor(Repeating):
    """An editor on the live site during an operation: saves an upload through the VIP every
    `interval` seconds (the test site's media manager, as the web user on the node that served
    it), none retried. `saved` are the names the site acknowledged."""

    FOLDER = "/var/www/portal/current/images/uploads"

    def __init__(self, interval: float = 0.5, timeout: float = 15.0):
        self.interval, self.timeout = interval, timeout
        self.prefix = f"editor-{random.randint(100_000, 999_999)}"
        self.saved: list[str] = []
        self.saved_at: dict[str, float] = {}
        self.refused: list[tuple[str, object]] = []
        self._number = 0  # names stay unique over several runs of the same editor

    def _post(self, **fields: str) -> tuple[bool, object]:
        import urllib.parse

        data = urllib.parse.urlencode({"secret": vault()["vault_joomla_site_secret"]["production"], **fields})
        try:
            with urllib.request.urlopen(urllib.request.Request(f"http://{vip()}/", data=data.encode()),
                                        timeout=self.timeout) as response:
                return response.status == 200, response.read().decode("utf-8", "replace").strip()
        except urllib.error.HTTPError as error:
            return False, error.code
        except OSError as error:
            return False, repr(error)

    def upload(self, name: str) -> bool:
        ok, answer = self._post(task="media.upload", name=name, content=f"saved by the editor as {name}\n")
        if ok:
            self.saved.append(name)
            self.saved_at[name] = time.monotonic()
        else:
            self.refused.append((name, answer))
        return ok

    def delete(self, name: str) -> None:
        ok, answer = self._post(task="media.delete", name=name)
        assert ok, f"the site did not delete {name}: {answer}"
        self.saved.remove(name)

    def step(self) -> None:
        self._number += 1
        self.upload(f"{self.prefix}-{self._number:04d}.txt")

    def on(self, name: str) -> set[str]:
        """This editor's uploads present on a node (its own disk, not through the VIP)."""
        listing = host(name).run(f"ls -1 {self.FOLDER}").stdout.split()
        return {entry for entry in listing if entry.startswith(self.prefix) and not entry.endswith(".part")}

    def served(self) -> list[str]:
        """Saved uploads the live site does not serve with their content."""
        missing = []
        for name in self.saved:
            page = get(f"http://{vip()}/images/uploads/{name}")
            if page.status != 200 or name not in page.body:
                missing.append(name)
        return missing


class ArticleWriter(Repeating):
    """An editor saving an article every `interval` seconds through the site's own database
    account on the primary, as Joomla's administrator does, none retried. `saved` are the titles
    MariaDB acknowledged, `refused` the errors it gave for the others."""

    def __init__(self, interval: float = 0.3, timeout: float = 25.0):
        self.interval, self.timeout = interval, timeout
        self.prefix = f"Saved by the editor {random.randint(100_000, 999_999)}"
        self.saved: list[str] = []
        self.refused: list[str] = []
        self._number = 0

    def save(self) -> bool:
        self._number += 1
        title = f"{self.prefix} {self._number:04d}"
        name = primary()
        user, password = hostvar(name, "joomla_site_db_user"), vault()["vault_joomla_site_db_password"]["production"]
        done = host(name).run("MYSQL_PWD=%s mysql -u %s portal -e %s", password, user,
                              article_insert(title, f"saved-{self._number}"))
        if done.rc == 0:
            self.saved.append(title)
        else:
            self.refused.append(done.stderr.strip())
        return done.rc == 0

    def step(self) -> None:
        self.save()


class PackageRepository:
    """A package repository on the store host, served over HTTP to the given nodes: Debian's
    own packages rebuilt with bumped versions (tests/fixtures/apt-repo/publish.sh)."""

    SOURCES = "/etc/apt/sources.list.d/otap-test.list"

    def __init__(self, nodes: list[str], packages: list[str]):
        self.nodes, self.packages = nodes, packages
        self.address = hostvar("store", "ansible_host")

    def publish(self, *args: str) -> None:
        host("store").check_output("/usr/local/sbin/otap-test-publish " + " ".join(args))

    def __enter__(self):
        copied = module("store", "ansible.builtin.copy", {
            "src": str(ROOT / "tests/fixtures/apt-repo/publish.sh"),
            "dest": "/usr/local/sbin/otap-test-publish", "mode": "0755"})
        assert not copied["store"].get("failed"), copied
        store = host("store")
        store.check_output("apt-get install -y -q apt-utils >/dev/null")
        self.publish("init", *self.packages)
        store.check_output(f"systemctl is-active -q otap-test-apt || systemd-run -q --unit otap-test-apt "
                           f"python3 -m http.server 8080 --bind {self.address} --directory /srv/otap-test-apt")
        # The store's firewall (role firewall) opens nothing but SSH: let the nodes reach this
        # repository while it serves; __exit__ loads the role's rules again.
        sources = ", ".join(hostvar(name, "ansible_host") for name in self.nodes)
        store.check_output(f"nft add rule inet otap_firewall input ip saddr {{ {sources} }} tcp dport 8080 accept "
                           "comment '\"test package repository\"'")
        for name in self.nodes:
            host(name).check_output(f"echo 'deb [trusted=yes] http://{self.address}:8080 ./' > {self.SOURCES}")
        return self

    def __exit__(self, *exc):
        for name in self.nodes:
            host(name).check_output(f"rm -f {self.SOURCES}")
        host("store").check_output("systemctl stop otap-test-apt")
        host("store").check_output("systemctl reload otap-firewall")
