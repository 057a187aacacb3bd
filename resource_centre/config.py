"""Settings, read from the environment (prefix RESOURCE_CENTRE_) or a `.env` file."""

from __future__ import annotations

import email.policy
import ipaddress
import os
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"
# Host names accepted unless RESOURCE_CENTRE_ALLOWED_HOSTS lists the names itself.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class Settings(BaseSettings):
    """Configuration of one process; never read at import time (call `Settings()`)."""

    model_config = SettingsConfigDict(
        env_prefix="RESOURCE_CENTRE_", env_file=".env", extra="ignore"
    )

    database_url: str = "sqlite:///data/resource_centre.db"
    index_dir: Path = Path("index")
    knowledge_dir: Path = Path("knowledge")
    data_dir: Path = Path("data")
    secret_key_value: str | None = Field(default=None, alias="RESOURCE_CENTRE_SECRET_KEY")
    public_read: bool = True
    # Behind a reverse proxy (contract section 10; docs/operations.md, "Derrière nginx").
    base_url: str | None = None  # the public address, e.g. https://centre.example
    allowed_hosts: str | None = None  # comma-separated; unset: BASE_URL's host and loopback
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-* headers are believed
    # Attachments in S3-compatible storage shared by several machines (contract section 10):
    # s3://KEY:SECRET@host:port/bucket (s3+https://… for TLS); unset: the data directory.
    s3_url: SecretStr | None = None
    # E-mail (contract section 10; issue 15). SMTP_URL: smtp://host:port,
    # smtp+starttls://user:password@host:587 or smtps://…; unset: data/outbox/*.eml files.
    smtp_url: SecretStr | None = None
    mail_from: str | None = None  # unset: centre-de-ressources@<BASE_URL's host>
    mail_poll_seconds: float = Field(default=2.0, gt=0)  # how often a worker looks for mail
    # Not in the contract's table: tuning knobs with safe defaults.
    index_poll_seconds: float = 0.1
    render_seconds: float = 2.0  # time limit of the Markdown rendering of one web request
    # Requests computed at once per process: one process computes on one core (the GIL), so
    # a few threads serve as fast as many and leave the index sync thread its turn.
    request_threads: int = Field(default=4, ge=1, le=200)
    # Keep the long-lived search caches out of Python's cycle collector (`serve` sets it).
    gc_freeze: bool = False
    session_idle_minutes: int = 120
    session_max_hours: int = 12
    # Quotas and retention; LOG_RETENTION_DAYS is in the contract (section 10). 0: no limit.
    log_retention_days: int = Field(default=400, ge=1)
    upload_quota_mb: int = Field(default=100, ge=0)  # attachments in all, per account
    drafts_per_day: int = Field(default=20, ge=0)  # new fiches per account in 24 hours
    anonymous_reports_per_window: int = Field(default=5, ge=0)  # "Signaler ce besoin"
    anonymous_window_minutes: int = Field(default=10, ge=1)
    timezone: ZoneInfo = ZoneInfo("Europe/Paris")  # of displayed dates (contract section 10)

    @field_validator("base_url", "allowed_hosts", "smtp_url", "mail_from", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("BASE_URL doit être de la forme https://centre.example")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError(
                "BASE_URL est une origine seulement : sans chemin, paramètres ni utilisateur"
            )
        _ = parts.port  # raises ValueError on a port that is not a number
        if not host_name(parts.netloc):
            raise ValueError("BASE_URL doit être de la forme https://centre.example")
        return f"{parts.scheme}://{parts.netloc.lower()}"

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: str | None) -> str | None:
        for entry in split_list(value):
            if entry != "*" and not host_name(entry):
                raise ValueError(
                    f"ALLOWED_HOSTS : {entry!r} n'est pas un nom d'hôte "
                    "(un nom ou une adresse, suivi éventuellement d'un port numérique, ou *)"
                )
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        entries = split_list(value)
        if "*" in entries and len(entries) > 1:
            raise ValueError(
                "FORWARDED_ALLOW_IPS : * fait confiance à toute adresse, seul ou pas du tout"
            )
        for entry in entries:
            if entry != "*" and not _proxy_entry_valid(entry):
                raise ValueError(
                    f"FORWARDED_ALLOW_IPS : {entry!r} n'est ni une adresse IP ni un réseau "
                    "écrit avec son adresse de base (10.0.0.0/8, pas 10.0.0.1/8)"
                )
        return value

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            smtp_url_parts(value.get_secret_value())  # InvalidSmtpUrl, never a ValueError
        return value

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str | None) -> str | None:
        if value is not None and not is_one_address(value):
            raise ValueError(MAIL_FROM_INVALID)
        return value.strip() if value is not None else None

    @property
    def accepted_hosts(self) -> frozenset[str]:
        """Host names accepted in `Host` (lower case, no port); "*" accepts any."""
        listed = self.allowed_hosts
        names = (
            {"*" if n == "*" else host_name(n) for n in split_list(listed)}
            if listed
            else set(LOOPBACK_HOSTS)
        )
        if self.base_url:
            names.add(host_name(urlsplit(self.base_url).netloc))
        return frozenset(names - {""})  # "": what `host_name` makes of a malformed Host

    @property
    def trusted_proxies(self) -> list[str]:
        """Addresses and networks (or "*") whose X-Forwarded-For and -Proto are believed."""
        return split_list(self.forwarded_allow_ips)

    @property
    def mail_origin(self) -> str:
        """The origin of links in e-mails: BASE_URL, or the address `make run` serves."""
        return self.base_url or "http://127.0.0.1:8000"

    @property
    def sender_address(self) -> str:
        """The `From` of messages: MAIL_FROM, or centre-de-ressources@ BASE_URL's host."""
        if self.mail_from:
            return self.mail_from
        host = urlsplit(self.base_url).hostname if self.base_url else None
        return f"centre-de-ressources@{host or 'localhost'}"

    @property
    def outbox_dir(self) -> Path:
        """Where messages are written as .eml files when no SMTP_URL is set."""
        return self.data_dir / "outbox"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @cached_property
    def secret_key(self) -> str:
        """Return the configured key, or the one generated once into the data dir.

        Raises MissingSecretKey with a server database (PostgreSQL): every machine sharing
        it must sign with the same key, which a key generated per machine would not be.
        """
        if self.secret_key_value:
            return self.secret_key_value
        if not self.is_sqlite:
            raise MissingSecretKey(MISSING_SECRET_KEY)
        return load_or_create_secret(self.data_dir)


MISSING_SECRET_KEY = (
    "RESOURCE_CENTRE_SECRET_KEY n'est pas définie. Avec une base PostgreSQL, la clé secrète "
    "doit être donnée explicitement, la même sur chaque machine (elle signe les jetons des "
    "formulaires) : définissez RESOURCE_CENTRE_SECRET_KEY dans l'environnement ou le fichier "
    ".env, par exemple avec la sortie de : "
    'python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
)


class MissingSecretKey(RuntimeError):
    """No RESOURCE_CENTRE_SECRET_KEY while the database is shared (PostgreSQL)."""


SMTP_URL_INVALID = (
    "RESOURCE_CENTRE_SMTP_URL n'est pas une adresse SMTP valide : écrivez smtp://hôte:port, "
    "smtp+starttls://utilisateur:motdepasse@hôte:587 ou smtps://… (caractères spéciaux du mot "
    "de passe encodés, par exemple / en %2F)"
)
SMTP_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
MAIL_FROM_INVALID = (
    "RESOURCE_CENTRE_MAIL_FROM doit être une seule adresse : adresse@domaine ou "
    "Nom <adresse@domaine>, sans retour à la ligne (un nom qui contient une virgule s'écrit "
    'entre guillemets : "Régie, quartier Nord" <adresse@domaine>)'
)


class InvalidSmtpUrl(RuntimeError):
    """RESOURCE_CENTRE_SMTP_URL cannot be read. Not a ValueError on purpose: pydantic would
    wrap it in a ValidationError that repeats the input, password included."""


class SmtpUrlParts(NamedTuple):
    """RESOURCE_CENTRE_SMTP_URL read: user and password decoded (None when absent)."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None


def smtp_url_parts(url: str) -> SmtpUrlParts:
    """Read an SMTP URL (smtp://, smtp+starttls://, smtps://); InvalidSmtpUrl with a fixed
    message, which never repeats the URL, when it is malformed (e.g. a "/" not encoded)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        userinfo, _, hostport = parts.netloc.rpartition("@")
        host = host_name(hostport)
        well_formed = (
            parts.scheme.lower() in SMTP_DEFAULT_PORTS
            and bool(host)
            and host == (parts.hostname or "")
            and parts.path in ("", "/")
            and not (parts.query or parts.fragment or "?" in url or "#" in url)
            and (port is None or 0 < port < 65536)
            and (not userinfo or bool(parts.username))
        )
    except ValueError:
        well_formed = False
    if not well_formed:
        raise InvalidSmtpUrl(SMTP_URL_INVALID) from None  # no context: it holds the URL
    scheme = parts.scheme.lower()
    return SmtpUrlParts(
        scheme=scheme,
        host=host,
        port=port or SMTP_DEFAULT_PORTS[scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def is_one_address(value: str) -> bool:
    """Whether `value` is exactly one mailbox: `adresse@domaine` or `Nom <adresse@domaine>`
    (a comma only inside quotes), on one line."""
    if any(c in value for c in "\r\n\0") or not value.strip():
        return False
    try:
        header = email.policy.default.header_factory("From", value.strip())
        addresses = header.addresses
    except (ValueError, IndexError, TypeError):
        return False
    if header.defects or len(addresses) != 1:
        return False
    [address] = addresses
    return bool(address.username and address.domain)


def load_or_create_secret(data_dir: Path) -> str:
    """Read `data_dir/secret_key`, creating it with owner-only permissions if missing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_KEY_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    # Write a private temp file, then hard-link it into place: the link either creates the
    # complete file or fails because another process won the race, never a half-written key.
    tmp = data_dir / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
    finally:
        tmp.unlink()
    return key


def _proxy_entry_valid(entry: str) -> bool:
    """Does uvicorn's ProxyHeadersMiddleware read `entry` as an address or network? (It takes
    anything else, a network with host bits set included, as a literal no client matches.)"""
    try:
        if "/" in entry:
            ipaddress.ip_network(entry)  # strict, as uvicorn parses it
        else:
            ipaddress.ip_address(entry)
    except ValueError:
        return False
    return True


def split_list(value: str | None) -> list[str]:
    """The non-empty items of a comma-separated setting."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


# A `Host` value: a name (letters, digits, "-", "_", dots; IPv4 addresses too) or a bracketed
# IPv6 address, then an optional numeric port. Nothing else: `name:@other`, `[::1]x`, `name:x`.
_HOST = re.compile(
    r"(?:(?P<name>[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?)|\[(?P<v6>[0-9a-f:.]+)\])(?::[0-9]{0,5})?"
)


def host_name(value: str) -> str:
    """The host name of a `Host` value or a setting: lower case, no port, brackets or final dot
    (`[::1]:8000` → `::1`, `Centre.Example.:443` → `centre.example`); "" when the value is not
    a host name, an IPv6 address in brackets or a bare one, with an optional numeric port."""
    value = value.strip().lower()
    match = _HOST.fullmatch(value)
    if match is None:
        return value if _is_ipv6(value) else ""  # a bare IPv6 address (in a setting)
    if match["v6"] is not None:
        return match["v6"] if _is_ipv6(match["v6"]) else ""
    return match["name"].rstrip(".")


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True
