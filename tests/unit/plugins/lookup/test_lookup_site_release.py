import http.server
import socket
import threading

import pytest
import yaml
from ansible import constants as C

from ansible_collections.otap.street.plugins.lookup import site_release

def serving(status: int, body: bytes, location: str = ""):
    """A web server on the loopback that answers every GET with `status` and `body`; its address."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def site():
    servers = []

    def start(status: int, body: bytes, location: str = "") -> str:
        server, address = serving(status, body, location)
        servers.append(server)
        return address

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def lookup(*terms, **options):
    """The plugin as Ansible runs it: its options known from its documentation, as the loader makes them."""
    plugin = site_release.LookupModule()
    plugin._load_name = "otap.street.site_release"
    C.config.initialize_plugin_configuration_definitions(
        "lookup", plugin._load_name, yaml.safe_load(site_release.DOCUMENTATION)["options"])
    return plugin.run(list(terms), variables={}, **options)


def test_each_address_says_the_release_its_page_names_in_the_order_given(site):
    four = site(200, b'<html><meta name="otap-release" content="4"></html>')
    three = site(200, b'<p>x</p><meta name="otap-release" content="3"><p>y</p>')
    answers = lookup([four, three])
    assert [(a["address"], a["status"], a["release"]) for a in answers] == [(four, 200, 4), (three, 200, 3)]
    assert answers[0]["said"] == f"{four} serves release 4"
    assert lookup(four, three) == answers, "the addresses as separate terms or as one list"


@pytest.mark.parametrize("status, body, said", [
    (500, b'<meta name="otap-release" content="4">', "answered HTTP 500"),
    (503, b"maintenance", "answered HTTP 503"),
    (200, b"<html>no meta</html>", "answered a page that names no release"),
    (200, b'<meta name="otap-release" content="4x">', "answered a page that names no release"),
    (200, b'<meta name="otap-release" content="">', "answered a page that names no release"),
    (204, b"", "answered HTTP 204"),
], ids=["error-page-with-meta", "maintenance", "no-meta", "not-a-number", "empty", "no-content"])
def test_an_address_that_answers_anything_but_a_release_page_has_no_release_and_says_why(site, status, body, said):
    address = site(status, body)
    (answer,) = lookup(address)
    assert answer["release"] is None and answer["status"] == status and answer["said"] == f"{address} {said}"


def test_an_address_that_does_not_answer_has_no_status_and_the_others_are_still_asked(site):
    down, up = closed_port(), site(200, b'<meta name="otap-release" content="7">')
    answers = lookup([down, up], timeout=2)
    assert answers[0]["status"] is None and answers[0]["release"] is None
    assert answers[0]["said"].startswith(f"{down} did not answer (") and "refused" in answers[0]["said"]
    assert answers[1]["release"] == 7


def test_a_page_is_read_only_so_far(site, monkeypatch):
    monkeypatch.setattr(site_release, "MOST", 64)
    address = site(200, b"x" * 100 + b'<meta name="otap-release" content="4">')
    assert lookup(address)[0]["release"] is None


def test_a_redirect_is_followed_to_the_page_a_visitor_would_see(site):
    target = site(200, b'<meta name="otap-release" content="5">')
    moved = site(302, b"", location=f"http://{target}/")
    assert lookup(moved)[0]["release"] == 5
