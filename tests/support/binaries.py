"""The server binaries the fixtures start, and the Debian packages that ship them."""

from __future__ import annotations

import os
import shutil

# Binary -> Debian package that ships it (mariadb-server/-client pull in the -core ones).
PACKAGES = {
    "mariadb-install-db": "mariadb-server",
    "mariadbd": "mariadb-server",
    "mariadb": "mariadb-client",
    "mariadb-admin": "mariadb-client",
    "redis-server": "redis-server",
}
# mariadbd lives in /usr/sbin, which a non-login or CI PATH may lack.
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN_DIRS))


def ensure_binaries() -> None:
    """Raise RuntimeError naming every missing server binary and its Debian package."""
    missing = [f"{name} (package {pkg})" for name, pkg in PACKAGES.items() if which(name) is None]
    if missing:
        packages = " ".join(sorted({PACKAGES[item.split(" ")[0]] for item in missing}))
        raise RuntimeError(
            "test servers need binaries that are not on PATH: "
            + ", ".join(missing)
            + f". Install them with `apt-get install -y {packages}` (or run `make test`)."
        )


def binary(name: str) -> str:
    """The path of `name`; RuntimeError naming what to install if it is missing."""
    path = which(name)
    if path is None:
        ensure_binaries()  # raises with the full list when it is one of ours
        raise RuntimeError(f"{name} is not installed")
    return path
