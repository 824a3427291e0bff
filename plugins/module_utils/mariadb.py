# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way for the collection's modules to reach a site's MariaDB (options: doc_fragments/mariadb)."""

from __future__ import annotations

import getpass

from ansible.module_utils.basic import missing_required_lib

try:
    import pymysql
    import pymysql.cursors

    HAS_PYMYSQL = True
    Error = pymysql.MySQLError
    # Rows read from the server as they are asked for, not all at once (a sweep of a large table).
    StreamingCursor = pymysql.cursors.SSCursor
except ImportError:  # reported by connect(), with the standard message
    HAS_PYMYSQL = False
    StreamingCursor = None

    class Error(Exception):  # noqa: N818 (pymysql's name, so callers can catch it either way)
        pass


def argument_spec() -> dict:
    return {
        "login_unix_socket": {"type": "path", "default": "/run/mysqld/mysqld.sock"},
        "login_user": {"type": "str", "default": ""},
        "login_password": {"type": "str", "default": "", "no_log": True},
    }


def connect(module, database: str | None = None, autocommit: bool = True, dict_rows: bool = False,
            as_os_user: bool = False):
    """A connection with the module's login options (or, `as_os_user`, as the user the module runs as,
    through the socket: root on the nodes), or the module fails saying what to check."""
    if not HAS_PYMYSQL:
        module.fail_json(msg=missing_required_lib("PyMySQL"))
    p = module.params
    user = getpass.getuser() if as_os_user else p.get("login_user") or getpass.getuser()
    password = "" if as_os_user else p.get("login_password") or ""
    try:
        return pymysql.connect(unix_socket=p["login_unix_socket"], user=user, password=password,
                               database=database, autocommit=autocommit, charset="utf8mb4",
                               cursorclass=pymysql.cursors.DictCursor if dict_rows else pymysql.cursors.Cursor)
    except pymysql.MySQLError as error:
        module.fail_json(msg=f"cannot connect to MariaDB as {user} through {p['login_unix_socket']}"
                             f"{' (database ' + database + ')' if database else ''}: {error}")
    return None
