"""The pair's upload keys' forced command (roles/pair_uploads/files/otap_uploads_receive.py): a
node receives uploads only as an rsync receiver behind rrsync, as the web user, and only from the
node its database replicates from."""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[3] / "roles" / "pair_uploads" / "files" / "otap_uploads_receive.py"
spec = importlib.util.spec_from_file_location("otap_uploads_receive", PATH)
receive = importlib.util.module_from_spec(spec)
spec.loader.exec_module(receive)

CONFIG = {"root": "/var/www/portal/shared", "web_user": "www-data", "socket": "/run/mysqld/mysqld.sock",
          "account": "otap-uploads"}
PRIMARY = "10.0.0.21"
STANDBY = {"read_only": True, "primary": PRIMARY}
PUSH = "rsync --server -lptre.iLsfxCIvu --delete . images/"


def test_the_primary_pushes_through_rrsync_write_only_as_the_web_user_inside_the_content_folder():
    assert receive.command_for(PUSH, PRIMARY, STANDBY, CONFIG) == [
        "sudo", "-n", "-u", "www-data", "/usr/bin/rrsync", "-wo", "-munge", "-no-lock", "/var/www/portal/shared"]


@pytest.mark.parametrize("request_", ["id", "sh -c 'touch /tmp/x'", "", "rsync", "scp -t /etc",
                                      "rsync --server --sender -r . images/", "rsync --sender --server . /",
                                      "'rsync --server", "sudo rsync --server . /"])
def test_nothing_but_an_rsync_receiver_runs(request_):
    with pytest.raises(receive.Refused):
        receive.command_for(request_, PRIMARY, STANDBY, CONFIG)


@pytest.mark.parametrize(("state", "sender", "why"), [
    ({"read_only": False, "primary": ""}, PRIMARY, "writable"),          # the receiver is a primary itself
    ({"read_only": False, "primary": PRIMARY}, PRIMARY, "writable"),     # promoted while still configured
    ({"read_only": True, "primary": ""}, PRIMARY, "follows no primary"), # a stray node waiting for its reseed
    (STANDBY, "10.0.0.99", "not 10.0.0.99"),                              # someone else with a pair key
    (STANDBY, "", "not "),
])
def test_a_node_receives_only_from_the_node_it_replicates_from(state, sender, why):
    with pytest.raises(receive.Refused, match=why):
        receive.command_for(PUSH, sender, state, CONFIG)


def test_a_receiver_that_cannot_ask_its_database_refuses(monkeypatch, tmp_path, capsys):
    config = tmp_path / "receive.json"
    config.write_text('{"root": "/srv", "web_user": "www-data", "socket": "/nonexistent.sock", "account": "x"}')
    monkeypatch.setattr(receive, "CONFIG", str(config))
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", PUSH)
    monkeypatch.setenv("SSH_CONNECTION", f"{PRIMARY} 4242 10.0.0.22 22")
    monkeypatch.setattr(receive.os, "execvp", lambda *_: pytest.fail("ran a command"))
    assert receive.main() == 1
    assert "refused" in capsys.readouterr().err
