# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The agency's signature on a release package: OpenSSH's `ssh-keygen -Y` (SSHSIG).

The agency signs each package with its own SSH key in the namespace `otap-release`; whoever uses a
package checks the signature against the agency's public keys from the inventory (an
allowed-signers list), so a package replaced in the store, even together with its register
checksum, is refused. ssh-keygen is Debian's openssh-client, present on every host.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

NAMESPACE = "otap-release"
_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._+-]{0,63}$")
_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|ssh-rsa) [A-Za-z0-9+/]+=*"
                  r"( [^\n]*)?$")


class SignatureError(ValueError):
    pass


def allowed_signers(signers: list[dict]) -> str:
    """An allowed-signers file for `ssh-keygen -Y`: one line per {principal, key}, for our namespace only."""
    lines = []
    for signer in signers:
        principal, key = str(signer.get("principal", "")), str(signer.get("key", "")).strip()
        if not _PRINCIPAL.match(principal):
            raise SignatureError(f"signer principal {principal!r} is not a plain name (letters, digits, @._+-)")
        if not _KEY.match(key):
            raise SignatureError(f"signer {principal}: {key[:30]!r}... is not an SSH public key line")
        kind, blob = key.split()[:2]
        lines.append(f'{principal} namespaces="{NAMESPACE}" {kind} {blob}')
    if not lines:
        raise SignatureError("no signers: the inventory names the agency's public key(s) in otap_release_signers")
    return "\n".join(lines) + "\n"


def sign(path: str, key: str) -> str:
    """Sign `path` with the private key file `key`; returns the signature's path (`path`.sig)."""
    target = path + ".sig"
    if os.path.exists(target):
        os.unlink(target)
    run = subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", NAMESPACE, path],
                         capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if run.returncode != 0 or not os.path.isfile(target):
        raise SignatureError(f"ssh-keygen could not sign {os.path.basename(path)} with {key}: "
                             f"{run.stderr.strip() or run.returncode}")
    return target


class StreamVerifier:
    """Checks a signature over data fed to it piece by piece (the package is read once)."""

    def __init__(self, signature: bytes, signers: list[dict]):
        self._dir = tempfile.mkdtemp(prefix="otap-sig.")
        self._allowed = os.path.join(self._dir, "allowed_signers")
        self._sig = os.path.join(self._dir, "package.sig")
        with open(self._allowed, "w", encoding="utf-8") as handle:
            handle.write(allowed_signers(signers))
        with open(self._sig, "wb") as handle:
            handle.write(signature)
        found = subprocess.run(["ssh-keygen", "-Y", "find-principals", "-f", self._allowed, "-s", self._sig],
                               capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        principals = found.stdout.split()
        self.principal = principals[0] if found.returncode == 0 and principals else None
        self._process = None
        if self.principal:
            self._process = subprocess.Popen(
                ["ssh-keygen", "-Y", "verify", "-f", self._allowed, "-I", self.principal, "-n", NAMESPACE,
                 "-s", self._sig], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def feed(self, data: bytes) -> None:
        if self._process and data:
            try:
                self._process.stdin.write(data)
            except BrokenPipeError:
                pass  # ssh-keygen stopped reading: finish() reports its answer

    def finish(self) -> str | None:
        """None when the signature is good; otherwise why not."""
        try:
            if not self.principal:
                return "its signature is not by any of the agency's keys in otap_release_signers (or is not a signature)"
            err = self._process.communicate()[1]
            if self._process.returncode != 0:
                return f"its signature does not match its contents ({err.decode(errors='replace').strip()})"
            return None
        finally:
            for name in (self._allowed, self._sig):
                if os.path.exists(name):
                    os.unlink(name)
            os.rmdir(self._dir)
