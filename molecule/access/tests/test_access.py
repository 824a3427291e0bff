"""Who may log in where (role access), what the firewall lets through (role firewall), and no
secret in the output of any playbook the suite ran.

Logins are tried from the controller with each person's own key (~/.ssh/otap_street_<name>),
connections between hosts from the hosts themselves.
"""

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.integration import street

JOOMLA = [host for env in ("development", "test", "acceptance", "production") for host in street.group(env)]
LOWER = ["dev", "test"]
NOT_FOR_THE_DEVELOPER = ["acc", "prod1", "prod2"]


def login(person: str, host: str, command: str = "id -un", *options: str) -> subprocess.CompletedProcess:
    """`command` on `host` over SSH as `person`, with their key (the street's own for otap and root)."""
    key_dir = Path(street.hostvar(host, "ansible_ssh_private_key_file")).expanduser().parent
    key = key_dir / ("otap_street_ed25519" if person in ("otap", "root") else f"otap_street_{person}")
    return subprocess.run(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", *options, f"{person}@{street.hostvar(host, 'ansible_host')}", command],
        capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL)


def reaches(source: str, target: str, port: int) -> bool:
    """Whether `source` opens a TCP connection to `target`'s port within three seconds."""
    address = street.hostvar(target, "ansible_host")
    probe = f"timeout 3 bash -c {shlex.quote(f'exec 3<>/dev/tcp/{address}/{port}')}"
    return street.host(source).run(probe).rc == 0


@pytest.mark.parametrize("host", LOWER)
def test_the_developer_logs_in_on_development_and_test_and_deploys_as_the_site_s_user(host):
    done = login("bram", host, "id -un; sudo -n -u www-data id -un")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["bram", "www-data"]
    root = login("bram", host, "sudo -n id -un")
    assert root.returncode != 0 and "password is required" in root.stderr


@pytest.mark.parametrize("host", NOT_FOR_THE_DEVELOPER)
def test_the_developer_s_key_opens_nothing_else(host):
    done = login("bram", host)
    assert done.returncode == 255 and "Permission denied" in done.stderr
    assert street.host(host).run("getent passwd bram").rc == 2


def sftp_as_the_developer(batch: str) -> subprocess.CompletedProcess:
    """An SFTP session on the store as the developer, with his own key."""
    return subprocess.run(
        ["sftp", "-i", str(Path(street.hostvar("store", "ansible_ssh_private_key_file")).expanduser().parent / "otap_street_bram"),
         "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         "-b", "-", f"bram@{street.hostvar('store', 'ansible_host')}"],
        input=batch, capture_output=True, text=True, timeout=30, check=False)


def test_the_developer_s_key_only_reads_the_laptop_snapshots_on_the_store():
    store = street.host("store")
    assert store.check_output("getent passwd bram").split(":")[6] == "/usr/sbin/nologin"
    assert "is not allowed to run sudo" in store.check_output("sudo -l -U bram"), "the developer has sudo rules on the store"
    shell = login("bram", "store", "cat /srv/otap-store/register/releases.yml")
    assert shell.returncode != 0 and "allows sftp connections only" in shell.stdout + shell.stderr
    tunnel = login("bram", "store", "true", "-W", "127.0.0.1:22")
    assert tunnel.returncode == 255 and "stdio forwarding failed" in tunnel.stderr, tunnel.stderr
    snapshots = sftp_as_the_developer("ls -1a\n")
    assert snapshots.returncode == 0, snapshots.stderr
    names = [n for n in snapshots.stdout.splitlines()[1:] if n not in (".", "..")]
    assert names and all(n.startswith("snapshot-") for n in names), f"more than the snapshots in the jail: {names}"
    for attack in ("put /etc/hostname mine.tar.gz", f"rm {names[0]}", f"rename {names[0]} kept", "mkdir x",
                   f"chmod 666 {names[0]}", f"symlink {names[0]} x", "get /srv/otap-store/register/releases.yml",
                   "get ../register/releases.yml", "get ../../etc/shadow", "cd /srv/otap-store"):
        tried = sftp_as_the_developer(attack + "\n")
        assert tried.returncode != 0, (attack, tried.stdout)
    assert sftp_as_the_developer("ls -1a\n").stdout == snapshots.stdout, "the developer changed the jail"


@pytest.mark.parametrize("host", JOOMLA)
def test_the_webmaster_has_an_account_without_a_shell_or_a_login(host):
    assert street.host(host).check_output("getent passwd carla").split(":")[6] == "/usr/sbin/nologin"
    done = login("carla", host)
    assert done.returncode == 255 and "Permission denied" in done.stderr


@pytest.mark.parametrize("host", JOOMLA + street.group("release_store"))
def test_operations_logs_in_everywhere_with_sudo_and_root_does_not(host):
    done = login("anna", host, "sudo -n id -un")
    assert (done.returncode, done.stdout.strip()) == (0, "root"), done.stderr
    root = login("root", host)
    assert root.returncode == 255 and "Permission denied" in root.stderr


def test_sshd_offers_keys_only():
    done = login("anna", "test", "true", "-o", "PreferredAuthentications=password,keyboard-interactive")
    assert done.returncode == 255
    assert "Permission denied (publickey)" in done.stderr


def test_production_s_database_is_reached_only_from_the_other_node():
    assert reaches("prod2", "prod1", 3306)
    assert reaches("prod1", "prod2", 3306)
    assert not reaches("test", "prod1", 3306)
    assert not reaches("acc", "prod2", 3306)
    assert not reaches("store", "prod1", 3306)


def test_ssh_comes_from_the_admin_network_and_production_s_nodes_only():
    assert reaches("prod1", "test", 22), "Production pushes a sync to the lower environments"
    assert reaches("prod1", "prod2", 22), "the primary sends its uploads to the standby"
    assert reaches("prod2", "store", 22), "the nodes ask the witness on the store"
    assert not reaches("test", "acc", 22)
    assert not reaches("test", "prod1", 22)
    assert not reaches("acc", "store", 22)
    assert not reaches("dev", "store", 22)


def test_the_site_answers_everyone():
    assert reaches("store", "test", 80)
    assert reaches("dev", "prod2", 80)


@pytest.mark.parametrize(("folder", "name", "status"), [
    ("images", "upload.php", 403), ("images/uploads", "shell.PHP5", 403), ("images", "x.phar", 403),
    ("images", "photo.svg", 200), ("tmp", "install.zip", 403), ("logs", "error.php", 403)])
def test_uploads_run_nothing_and_tmp_and_logs_are_not_served(folder, name, status):
    """A file the site's PHP (or an editor) wrote into content is never run as a program."""
    node = street.host("test")
    shared = f"/var/www/portal/shared/{folder}"
    served = {"images": "images", "tmp": "tmp", "logs": "administrator/logs"}[folder.split("/")[0]]
    url = f"http://{street.hostvar('test', 'ansible_host')}/{served}{folder[len(folder.split('/')[0]):]}/{name}"
    node.check_output(f"install -d -m 0775 -o www-data -g www-data {shared} && "
                      f"printf '<?php echo \"RAN-\" . (6 * 7);' > {shared}/{name}")
    try:
        page = street.get(url)
    finally:
        node.check_output(f"rm -f {shared}/{name}")
    assert page.status == status, (url, page.status, page.body[:200])
    assert "RAN-42" not in page.body


def test_a_firewall_that_would_lock_ansible_out_is_refused_before_anything_changes():
    rules = street.host("test").check_output("sha256sum /etc/otap-firewall.nft")
    run = street.playbook("site", "--limit", "test", firewall_admin_networks=["192.0.2.0/24"])
    assert run.rc != 0
    assert "would close SSH to 10.242.42.1, the address this run logs in from" in " ".join(run.output.split())
    assert street.host("test").check_output("sha256sum /etc/otap-firewall.nft") == rules
    assert login("otap", "test").returncode == 0


def test_access_that_would_lock_ansible_out_is_refused_before_anything_changes():
    people = [{"name": "anna", "party": "operations", "keys": []}]
    run = street.playbook("site", "--limit", "test", access_people=people)
    assert run.rc != 0
    assert "Ansible logs in to test as otap, which would have no login with full sudo" in " ".join(run.output.split())
    assert login("otap", "test").returncode == 0
    assert login("anna", "test").returncode == 0


def test_no_secret_in_the_output_of_any_playbook_the_suite_ran():
    """Every street.playbook() call ran with -v; this reads them all, from every scenario of the
    suite (so it runs last). `make molecule` empties the folder first: run alone, this test reads
    what the last suite and the runs since kept."""
    runs = street.kept_runs()
    ran = {name for name, _ in runs}
    main = {"site", "package", "release", "approve", "rollback", "withdraw", "sync", "os_update", "failover",
            "backup", "restore", "status", "request", "hospital_copy", "system_docs"}
    assert main <= ran, ("this test reads the whole suite's runs; not run since the suite began (make molecule "
                         f"runs them all): {sorted(main - ran)}")
    secrets = street.vault_secrets()
    leaked = {(name, secret[:4] + "...") for name, output in runs for secret in secrets if secret in output}
    assert not leaked, f"secrets in the output of: {sorted(leaked)}"
    quiet = sorted({name for name, output in runs if "as config file" not in output})
    assert not quiet, f"runs without -v (ansible-playbook -v names its config file): {quiet}"
