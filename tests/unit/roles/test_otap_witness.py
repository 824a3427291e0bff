"""The pair's witness (roles/keepalived/files/otap_witness.py): the nodes' keys may ask it only
whether it reaches a node of the pair, nothing else."""

import importlib.util
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
                                      "id", "sh -c id", "peer 10.0.0.21; id", "'peer", ""])
def test_nothing_else_is_answered(request_):
    with pytest.raises(witness.Refused):
        witness.address_for(request_, CONFIG)


def test_a_listening_node_is_alive_and_a_silent_one_dead():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert witness.alive("127.0.0.1", port)
    assert not witness.alive("127.0.0.1", port)
