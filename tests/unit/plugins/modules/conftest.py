import os

import pytest


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
