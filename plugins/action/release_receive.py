# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's side of otap.street.release_receive: copy the packages in, then run the module."""

from __future__ import annotations

from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.otap.street.plugins.module_utils.release_package import release_number


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # the connection's own temporary folder is used
        args = dict(self._task.args)
        incoming = Path(str(args.get("incoming") or ""))
        if not incoming.is_absolute() or not incoming.is_dir():
            raise AnsibleActionFail(f"incoming must be the controller's folder of packages (an absolute path), "
                                    f"not {str(incoming)!r}")
        entries = args.get("releases")
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise AnsibleActionFail("releases must be a list of {release, sha256}")
        try:
            names = [f"release-{release_number(entry.get('release'))}.tar.gz{suffix}"
                     for entry in entries for suffix in ("", ".sig")]
        except ValueError as error:
            raise AnsibleActionFail(f"{error}: nothing was copied") from None
        folder = self._connection._shell.tmpdir or self._make_tmp_path()
        try:
            copied = []
            for name in names:
                if not (incoming / name).is_file():
                    raise AnsibleActionFail(f"{incoming / name} is not on the controller: fetch it from the store first")
                copied.append(self._transfer_file(str(incoming / name), self._connection._shell.join_path(folder, name)))
            self._fixup_perms2([folder, *copied])
            result.update(self._execute_module(module_name="otap.street.release_receive",
                                               module_args=args | {"incoming": folder}, task_vars=task_vars))
        finally:
            self._remove_tmp_path(folder)
        return result
