import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


@pytest.fixture
def run_module(monkeypatch):
    """Run a module's main() with arguments; return its result (failed=True on fail_json)."""
    from ansible.module_utils import basic

    def exit_json(self, **kwargs):
        raise ModuleExit({"failed": False, **kwargs})

    def fail_json(self, msg, **kwargs):
        raise ModuleExit({"failed": True, "msg": msg, **kwargs})

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def run(module, **args):
        with patch_module_args(args):
            try:
                module.main()
            except ModuleExit as done:
                return json.loads(json.dumps(done.result, default=str))
        raise AssertionError("the module returned without exit_json or fail_json")

    return run


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    """A MariaDB server of the tests' own, in a temporary folder, reached through its socket as root
    (`make unit` installs Debian's mariadb-server-core; nothing is set up as a service)."""
    import getpass
    import shutil
    import subprocess
    import time

    import pymysql

    server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    if not os.access(server, os.X_OK) or not shutil.which("mariadb-install-db"):
        pytest.fail("these tests start a MariaDB server: install mariadb-server-core and mariadb-client-core "
                    "(make unit does: street/controller.sh unit)")
    root = tmp_path_factory.mktemp("mariadb")
    user = getpass.getuser()
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={root}/data", f"--user={user}",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True)
    socket = root / "mysqld.sock"
    process = subprocess.Popen([server, "--no-defaults", f"--datadir={root}/data", f"--socket={socket}",
                                "--skip-networking", f"--user={user}", f"--log-error={root}/error.log",
                                "--innodb-buffer-pool-size=32M"])
    deadline = time.monotonic() + 30
    while not socket.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"MariaDB did not start: {(root / 'error.log').read_text()[-2000:]}")
        time.sleep(0.1)

    def sql(statement: str, database: str | None = None) -> list[tuple]:
        with pymysql.connect(unix_socket=str(socket), user="root", password="", database=database,
                             autocommit=True) as connection, connection.cursor() as cursor:
            cursor.execute(statement)
            return list(cursor.fetchall())

    if user != "root":  # the module keeps its history as the OS user, through the socket
        sql(f"CREATE USER IF NOT EXISTS '{user}'@localhost IDENTIFIED VIA unix_socket")
        sql(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@localhost WITH GRANT OPTION")
    sql.socket = str(socket)
    yield sql
    process.terminate()
    process.wait(30)
