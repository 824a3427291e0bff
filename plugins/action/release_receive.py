# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's side of otap.street.release_receive: copy the packages in, then run the module."""

from __future__ import annotations

from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # the connection's own temporary folder is used
        args = dict(self._task.args)
        incoming = Path(str(args.get("incoming", "")))
        try:
            releases = [int(entry["release"]) for entry in args.get("releases") or []]
        except (KeyError, TypeError, ValueError) as error:
            raise AnsibleActionFail(f"releases must be a list of {{release, sha256}}: {error}") from error
        folder = self._make_tmp_path()
        copied = []
        try:
            for number in releases:
                for name in (f"release-{number}.tar.gz", f"release-{number}.tar.gz.sig"):
                    local = incoming / name
                    if not local.is_file():
                        raise AnsibleActionFail(f"{local} is not on the controller: fetch it from the store first")
                    remote = self._connection._shell.join_path(folder, name)
                    self._transfer_file(str(local), remote)
                    copied.append(remote)
            self._fixup_perms2([folder, *copied])
            result.update(self._execute_module(module_name="otap.street.release_receive",
                                               module_args=args | {"incoming": folder}, task_vars=task_vars))
        finally:
            self._remove_tmp_path(folder)
        return result
