"""The pair's witness (roles/keepalived/files/otap_witness.py): the nodes' keys may ask it only
whether it reaches a node of the pair, or say hello (noted, so a standby knows the asker lived),
nothing else."""

import importlib.util
import os
import time
import socket
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[3] / "roles" / "keepalived" / "files" / "otap_witness.py"
spec = importlib.util.spec_from_file_location("otap_witness", PATH)
witness = importlib.util.module_from_spec(spec)
spec.loader.exec_module(witness)

CONFIG = {"nodes": ["10.0.0.21", "10.0.0.22"], "port": 80}


def test_a_node_of_the_pair_may_be_asked_about():
    assert witness.address_for("peer 10.0.0.21", CONFIG) == "10.0.0.21"


@pytest.mark.parametrize("request_", ["peer 10.0.0.99", "peer 127.0.0.1", "peer", "peer 10.0.0.21 10.0.0.22",
                                      "id", "sh -c id", "peer 10.0.0.21; id", "'peer", "", "hello 10.0.0.21",
                                      "hello; id", "HELLO"])
def test_nothing_else_is_answered(request_):
    with pytest.raises(witness.Refused):
        witness.address_for(request_, CONFIG)


@pytest.fixture(name="asked")
def fixture_asked(monkeypatch, tmp_path):
    """main() as sshd runs it, with the pair's config and the record of askers in tmp_path."""
    config = tmp_path / "pair.json"
    config.write_text('{"nodes": ["10.0.0.21", "10.0.0.22"], "port": 80}')
    monkeypatch.setattr(witness, "CONFIG", str(config))
    monkeypatch.setattr(witness.remember, "__defaults__", (str(tmp_path),))
    monkeypatch.setattr(witness, "alive", lambda *_a, **_k: pytest.fail("knocked"))
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", "hello")
    return tmp_path


def test_hello_is_heard_and_noted_without_a_knock(monkeypatch, asked, capsys):
    """A primary whose standby is silent says hello in every check: the answer must not wait for
    a knock at anyone, and the witness notes that it asked (a standby then waits for its fence)."""
    monkeypatch.setenv("SSH_CLIENT", "10.0.0.21 40000 22")
    assert witness.main() == 0
    assert capsys.readouterr().out == "heard\n" and (asked / "asked-10.0.0.21").exists()


@pytest.mark.parametrize("client", ["192.0.2.7 40000 22", "", "10.0.0.2 40000 22"])
def test_hello_from_an_address_the_witness_does_not_note_is_not_heard(monkeypatch, asked, capsys, client):
    """'heard' tells a primary it is on record, so it keeps its writes: an asker the witness does
    not note (NAT, a second address, keepalived_peers other than its address) is refused."""
    monkeypatch.setenv("SSH_CLIENT", client)
    assert witness.main() == 1
    assert capsys.readouterr().out == "" and not list(asked.glob("asked-*"))


def test_a_listening_node_is_alive_and_a_silent_one_dead():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert witness.alive("127.0.0.1", port)
    assert not witness.alive("127.0.0.1", port)


def test_it_notes_when_a_node_of_the_pair_last_asked_and_nobody_else(tmp_path):
    witness.remember("10.0.0.21", CONFIG, str(tmp_path))
    witness.remember("10.0.0.99", CONFIG, str(tmp_path))
    witness.remember("", CONFIG, str(tmp_path))
    witness.remember("../etc/passwd", CONFIG, str(tmp_path))
    assert [path.name for path in tmp_path.iterdir()] == ["asked-10.0.0.21"]


def test_a_dead_node_s_answer_says_how_long_ago_it_last_asked(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]  # bound, not listening: refused
    config = {"nodes": ["127.0.0.1"], "port": port}
    assert witness.answer("127.0.0.1", port, str(tmp_path)) == "dead"
    witness.remember("127.0.0.1", config, str(tmp_path))
    said, ago = witness.answer("127.0.0.1", port, str(tmp_path)).split()
    assert said == "dead" and 0.0 <= float(ago) < 5
    old = tmp_path / "asked-127.0.0.1"
    os.utime(old, (old.stat().st_mtime - 30, old.stat().st_mtime - 30))
    assert 29 < float(witness.answer("127.0.0.1", port, str(tmp_path)).split()[1]) < 35
    os.utime(old, (time.time() - 7.96, time.time() - 7.96))
    assert witness.answer("127.0.0.1", port, str(tmp_path)) == "dead 7.9", "rounded up: a wait cut short"


def test_a_living_node_is_alive_whenever_it_asked(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert witness.answer("127.0.0.1", server.getsockname()[1], str(tmp_path)) == "alive"
