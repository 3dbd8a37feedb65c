"""Which keys encrypt new backups, and which open encrypted ones.

Backing up needs public keys only (LUMBUNG_AGE_RECIPIENTS, LUMBUNG_AGE_RECIPIENTS_FILE): a
stolen server cannot read its own past backups. Opening one (restore, verify, a drill) needs
an identity: from LUMBUNG_AGE_IDENTITY_FILE, read when it is needed (so the key can be put in
place only for the restore), or from the request, for one restore. A passphrase file
(LUMBUNG_AGE_PASSPHRASE_FILE) is both: it encrypts, and it opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.backup.stages import ByteSink
from server.encryption.age import (
    AgeEncryptor,
    MalformedFile,
    NoMatchingIdentity,
    Plaintext,
    Source,
    open_plaintext,
)
from server.encryption.keys import (
    Identity,
    KeyFormatError,
    Passphrase,
    Recipient,
    parse_identities,
    parse_recipients,
    read_private_file,
)
from server.errors import BadUserInput, ConfigurationError

if TYPE_CHECKING:
    from server.settings import Settings

PASSPHRASE = "passphrase"  # noqa: S105 - not a secret: how a backup's recipients name one


@dataclass(frozen=True)
class Keyring:
    """Identities and passphrases that may open a backup, and where they came from (for
    messages: never the keys themselves)."""

    source: str
    identities: tuple[Identity, ...] = field(default=(), repr=False)
    passphrases: tuple[Passphrase, ...] = field(default=(), repr=False)

    def open(self, source: Source, *, size: int, what: str, recipients: Sequence[str]) -> Plaintext:
        """The plaintext of the age file `what`, or BadUserInput saying that these keys do
        not open it (MalformedFile when the file itself is damaged)."""
        try:
            return open_plaintext(source, self.identities, self.passphrases, size=size)
        except NoMatchingIdentity:
            held = ", ".join(str(i.recipient) for i in self.identities) or "a passphrase"
            raise BadUserInput(
                f"{self.source} does not open {what}: it is encrypted to "
                f"{', '.join(recipients)}, and the identity given is for {held}. "
                "Nothing was changed; give the matching identity."
            ) from None


def request_keyring(identity: str | None, passphrase: str | None) -> Keyring | None:
    """The keys a request brought for one restore or verification (never stored, never
    logged), or None when it brought none."""
    if identity is None and passphrase is None:
        return None
    identities: list[Identity] = []
    if identity is not None:
        try:
            identities = parse_identities(identity, "`identity`")
        except KeyFormatError as exc:
            raise BadUserInput(f"{exc}; paste the key file's AGE-SECRET-KEY-1... line.") from None
    passphrases = [Passphrase(passphrase.encode())] if passphrase is not None else []
    return Keyring("the identity given with the request", tuple(identities), tuple(passphrases))


class Encryption:
    """The encryption settings, read once at start (recipients, passphrase); the identity
    file is read each time a backup must be opened."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.work_factor = settings.age_work_factor
        self.recipients: list[Recipient] = []
        self.passphrase: Passphrase | None = None
        try:
            self.recipients = parse_recipients(
                "\n".join(settings.age_recipients), "LUMBUNG_AGE_RECIPIENTS"
            )
            if settings.age_recipients_file is not None:
                path = settings.age_recipients_file
                try:
                    text = path.read_text(encoding="utf-8")
                except OSError as exc:
                    raise ConfigurationError(
                        f"LUMBUNG_AGE_RECIPIENTS_FILE {path} cannot be read ({exc.strerror})"
                    ) from None
                self.recipients += parse_recipients(text, f"LUMBUNG_AGE_RECIPIENTS_FILE {path}")
        except KeyFormatError as exc:
            raise ConfigurationError(str(exc)) from None
        if settings.age_passphrase_file is not None:
            try:
                text = read_private_file(
                    settings.age_passphrase_file, "LUMBUNG_AGE_PASSPHRASE_FILE"
                )
            except BadUserInput as exc:
                raise ConfigurationError(exc.message) from None
            value = text.rstrip("\r\n")
            if not value:
                raise ConfigurationError("LUMBUNG_AGE_PASSPHRASE_FILE holds an empty passphrase")
            self.passphrase = Passphrase(value.encode())
        if self.passphrase is not None and self.recipients:
            raise ConfigurationError(
                "LUMBUNG_AGE_PASSPHRASE_FILE cannot be combined with LUMBUNG_AGE_RECIPIENTS(_FILE):"
                " age never mixes a passphrase with public keys in one file; choose one"
            )

    @property
    def enabled(self) -> bool:
        return bool(self.recipients) or self.passphrase is not None

    def recipient_names(self) -> list[str]:
        """What a new backup's row and manifest record as its recipients."""
        if self.passphrase is not None:
            return [PASSPHRASE]
        return [str(r) for r in self.recipients]

    def stage(self, sink: ByteSink) -> AgeEncryptor:
        """The encryption byte stage around `sink` (see server/backup/pipeline.py)."""
        target: Sequence[Recipient] | Passphrase = self.passphrase or self.recipients
        return AgeEncryptor(sink, target, work_factor=self.work_factor)

    def keyring(self, given: Keyring | None, what: str, recipients: Sequence[str]) -> Keyring:
        """The keys to open `what` with: those given with the request, else the settings'
        identity file (read now) and passphrase. BadUserInput names what is missing."""
        if given is not None:
            return given
        path = self._settings.age_identity_file
        identities: list[Identity] = []
        source = "LUMBUNG_AGE_PASSPHRASE_FILE"
        if path is not None:
            text = read_private_file(path, "LUMBUNG_AGE_IDENTITY_FILE")
            try:
                identities = parse_identities(text, f"LUMBUNG_AGE_IDENTITY_FILE {path}")
            except KeyFormatError as exc:
                raise BadUserInput(str(exc)) from None
            source = f"LUMBUNG_AGE_IDENTITY_FILE ({path})"
        passphrases = (self.passphrase,) if self.passphrase is not None else ()
        if not identities and not passphrases:
            raise BadUserInput(
                f"{what} is encrypted to {', '.join(recipients)}, and opening it needs the "
                "matching age identity: set LUMBUNG_AGE_IDENTITY_FILE to the file that holds "
                "its AGE-SECRET-KEY (mode 0600), or give `identity` with the request. "
                "Nothing was changed."
            )
        return Keyring(source, tuple(identities), passphrases)


__all__ = ["PASSPHRASE", "Encryption", "Keyring", "MalformedFile", "request_keyring"]
