# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the modules that reach a site's MariaDB (module_utils/mariadb)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_unix_socket:
    description: The MariaDB server's unix socket on the host the module runs on.
    type: path
    default: /run/mysqld/mysqld.sock
  login_user:
    description:
      - The account to connect as. Empty means the operating system user running the module, through
        MariaDB's unix_socket authentication (root, for operations' own work).
    type: str
    default: ""
  login_password:
    description: The password of I(login_user) (not used with unix_socket authentication).
    type: str
    default: ""
requirements:
  - PyMySQL
"""
