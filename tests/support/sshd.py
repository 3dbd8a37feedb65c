"""A private OpenSSH `sshd` on a loopback port, for the SFTP offsite target: a throwaway host
key, SFTP only (ForceCommand internal-sftp: no shell), and one user who logs in with a key
alone (no password, no keyboard-interactive).

No chroot: sshd refuses one under the world-writable /tmp, so the target's folder is given as
an absolute path.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.support.binaries import which
from tests.support.children import child_env
from tests.support.managed import ManagedServer
from tests.support.mariadb import SHORT_TMP

_READY_TIMEOUT = 10.0


def _binary_or(name: str, package: str) -> str:
    path = which(name)
    if path is None:
        raise RuntimeError(
            f"{name} is not installed: apt-get install -y {package} (or run `make test`)"
        )
    return path


def _banner(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as conn:
            return conn.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


class SSHServer(ManagedServer):
    """A private sshd for SFTP, with its own host key and client key."""

    kind = "sshd"

    def __init__(self, base_dir: Path | None = None) -> None:
        parent = Path(base_dir) if base_dir is not None else SHORT_TMP
        parent.mkdir(parents=True, exist_ok=True)
        super().__init__(Path(tempfile.mkdtemp(prefix="lb-ssh-", dir=parent)), owned=True)
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.folder = self.tmp_dir / "backups"
        self.host_key = self.tmp_dir / "host_key"
        self.client_key = self.tmp_dir / "client_key"
        self.known_hosts = self.tmp_dir / "known_hosts"
        self.config_path = self.tmp_dir / "sshd_config"

    def _prepare(self) -> None:
        if self.config_path.exists():
            return
        keygen = _binary_or("ssh-keygen", "openssh-client")
        for key in (self.host_key, self.client_key):
            subprocess.run(
                [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "lumbung-test", "-f", str(key)],
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=child_env(),
            )
        self.folder.mkdir(parents=True)
        (self.tmp_dir / "authorized_keys").write_text(
            self.client_key.with_suffix(".pub").read_text()
        )
        self._write_known_hosts()
        self.config_path.write_text(
            "\n".join(
                [
                    f"HostKey {self.host_key}",
                    f"PidFile {self.tmp_dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.tmp_dir / 'authorized_keys'}",
                    f"AllowUsers {self.user}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "Subsystem sftp internal-sftp",
                    "ForceCommand internal-sftp",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "LogLevel VERBOSE",
                ]
            )
            + "\n"
        )
        # sshd refuses to start without its privilege-separation folder.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def _write_known_hosts(self) -> None:
        host_public = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(
            f"[{self.host}]:{self.port} {host_public[0]} {host_public[1]}\n"
        )

    def _command(self) -> list[str]:
        # The port on the command line, not in the config: a start that found the port taken
        # retries on another one (managed.py), and known_hosts follows it.
        self._write_known_hosts()
        return [
            _binary_or("sshd", "openssh-server"),
            *("-D", "-e", "-f", str(self.config_path)),
            *("-o", f"ListenAddress={self.host}:{self.port}"),
        ]

    def _wait_ready(self, start: float) -> None:
        self._poll_ready(
            start, _READY_TIMEOUT, lambda: _banner(self.host, self.port), what="SSH banner"
        )

    def target(self, name: str = "sftp", **extra: Any) -> dict[str, Any]:
        """A LUMBUNG_OFFSITE_TARGETS entry for this server."""
        return {
            "kind": "sftp",
            "name": name,
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "private_key_file": str(self.client_key),
            "known_hosts_file": str(self.known_hosts),
            "path": str(self.folder),
            **extra,
        }
