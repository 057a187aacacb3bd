"""Where attachment files live: a folder of the data directory (one machine, the default) or
an S3-compatible bucket that several machines share (`RESOURCE_CENTRE_S3_URL`).

Both stores hold immutable files under names chosen by the server (`attachments.py`): a
name is written once, read many times, and deleted only when the transaction that wrote it
fails. Reads stream in chunks, so a download never holds a whole file in memory.
"""

from __future__ import annotations

import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from resource_centre.config import Settings
from resource_centre.errors import DomainError, Kind

log = logging.getLogger(__name__)
CHUNK_BYTES = 256 * 1024
# Names are made by the server (random hex and an extension); anything else is refused
# before it reaches a path or a key, so no name can leave the folder or the bucket.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
# S3 bucket names: 3 to 63 lower-case letters, digits, dots and hyphens.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class MissingAttachment(DomainError, LookupError):
    """No file of that name in the store (the app answers 404)."""

    default_kind = Kind.NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__("Cette pièce jointe est introuvable.")
        self.name = name


class StorageUnavailable(DomainError):
    """The object storage did not answer as it should (the app answers 503). The message is
    for readers; `detail` (where, which error) is for the operator's log and the CLI."""

    default_kind = Kind.UNAVAILABLE

    def __init__(self, detail: str) -> None:
        super().__init__(
            "Les pièces jointes sont momentanément indisponibles : réessayez dans un moment."
        )
        self.detail = detail


class StorageConfigError(ValueError):
    """`RESOURCE_CENTRE_S3_URL` cannot be understood; the message is French."""


class StoredFile(NamedTuple):
    name: str
    size: int


class Download:
    """An opened file: its size, then its bytes in chunks (iterate once; closed at the end,
    or by `close()` when the reader gives up)."""

    def __init__(self, size: int, chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self.size = size
        self._chunks = chunks
        self._close = close
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def read(self) -> bytes:
        return b"".join(self)

    def close(self) -> None:
        """Release the file or the connection (once; later calls do nothing)."""
        if not self.closed:
            self.closed = True
            self._close()


def valid_name(name: str) -> bool:
    """Is `name` a stored name the server could have made (no path, no leading dot)?"""
    return bool(NAME.fullmatch(name)) and ".." not in name


def check_name(name: str) -> str:
    """Return `name` if valid; MissingAttachment otherwise (a name that cannot exist is
    simply not found)."""
    if not valid_name(name):
        raise MissingAttachment(name)
    return name


def new_name(name: str) -> str:
    """Return `name` if valid for a new file; ValueError otherwise (a programming error)."""
    if not valid_name(name):
        raise ValueError(f"not a stored attachment name: {name!r}")
    return name


class AttachmentStore(ABC):
    """The files of attachments, by stored name."""

    location: str  # where, for messages (never with credentials)

    @abstractmethod
    def ensure(self) -> bool:
        """Create the folder or bucket if missing; True if it was created."""

    @abstractmethod
    def put(self, name: str, data: bytes) -> None:
        """Store a new file (readable by the server only)."""

    @abstractmethod
    def open(self, name: str) -> Download:
        """Open a file for streaming; MissingAttachment if there is none of that name."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove a file; nothing happens if it is missing."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def files(self) -> Iterator[StoredFile]:
        """Every stored file (for backups), in name order."""

    def get(self, name: str) -> bytes:
        """A whole file (small files and tests; downloads use `open`)."""
        return self.open(name).read()


def write_private(path: Path, data: bytes) -> None:
    """Create `path` readable by the owner only (0600) and write `data`; never overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class DirectoryStore(AttachmentStore):
    """Files in a folder of the data directory (`0700`, files `0600`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.location = str(folder)

    def ensure(self) -> bool:
        if self.folder.is_dir():
            return False
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return True

    def put(self, name: str, data: bytes) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(self.folder / new_name(name), data)

    def open(self, name: str) -> Download:
        try:
            fh = (self.folder / check_name(name)).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MissingAttachment(name) from None
        size = os.fstat(fh.fileno()).st_size
        return Download(size, iter(lambda: fh.read(CHUNK_BYTES), b""), fh.close)

    def delete(self, name: str) -> None:
        (self.folder / check_name(name)).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return valid_name(name) and (self.folder / name).is_file()

    def files(self) -> Iterator[StoredFile]:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.iterdir()):
            if valid_name(path.name) and path.is_file() and not path.is_symlink():
                yield StoredFile(path.name, path.stat().st_size)


@dataclass(frozen=True)
class S3Location:
    """What `RESOURCE_CENTRE_S3_URL` says: endpoint, bucket, credentials, region."""

    endpoint: str
    bucket: str
    access_key: str = field(repr=False)  # credentials never in a repr, a log or a trace
    secret_key: str = field(repr=False)
    region: str = "us-east-1"

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """`s3://KEY:SECRET@host:port/bucket` (http) or `s3+https://…` (TLS); an optional
        `?region=…`. Credentials may be percent-encoded (a `/` in a secret as `%2F`)."""
        parts = urlsplit(url.strip())
        schemes = {"s3": "http", "s3+http": "http", "s3+https": "https"}
        problem = None
        if parts.scheme not in schemes:
            problem = "l'adresse doit commencer par s3:// ou s3+https://"
        elif not parts.hostname:
            problem = "il manque le nom du serveur"
        elif not parts.username or parts.password is None:
            problem = "il manque la clé d'accès et le secret (s3://CLÉ:SECRET@serveur/…)"
        bucket = parts.path.strip("/")
        if problem is None and not BUCKET.fullmatch(bucket):
            problem = (
                "le chemin doit être le nom du compartiment (bucket) : 3 à 63 minuscules, "
                "chiffres, points ou tirets"
            )
        try:
            port = parts.port
        except ValueError:
            problem = problem or "le port n'est pas un nombre"
            port = None
        if problem:
            raise StorageConfigError(
                f"RESOURCE_CENTRE_S3_URL invalide : {problem} "
                "(forme attendue : s3://CLÉ:SECRET@serveur:port/compartiment)."
            )
        assert parts.hostname is not None and parts.username and parts.password is not None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        endpoint = f"{schemes[parts.scheme]}://{host}" + (f":{port}" if port else "")
        region = parse_qs(parts.query).get("region", ["us-east-1"])[0]
        return cls(endpoint, bucket, unquote(parts.username), unquote(parts.password), region)


# Codes of S3 errors meaning "no such object" or "no such bucket".
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class S3Store(AttachmentStore):
    """Objects in one bucket of an S3-compatible server, named as the stored names."""

    def __init__(self, where: S3Location) -> None:
        # Imported here: a one-machine installation never pays for boto3's import.
        import boto3  # type: ignore[import-untyped]  # boto3 ships no type hints
        from botocore.config import Config  # type: ignore[import-untyped]

        self.where = where
        self.bucket = where.bucket
        self.location = f"{where.endpoint}/{where.bucket}"
        config = Config(
            s3={"addressing_style": "path"},  # host:port/bucket: no DNS name per bucket
            signature_version="s3v4",
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # Checksums only where S3 requires them: servers other than AWS's do not all
            # accept the trailing checksums botocore otherwise adds to every upload.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A client of its own session: clients are thread-safe, the default session is not.
        try:
            self.client: Any = boto3.session.Session().client(
                "s3",
                endpoint_url=where.endpoint,
                aws_access_key_id=where.access_key,
                aws_secret_access_key=where.secret_key,
                region_name=where.region,
                config=config,
            )
        except Exception:  # a host or region botocore refuses (no network used)
            raise StorageConfigError(
                "RESOURCE_CENTRE_S3_URL invalide : le nom du serveur ou la région n'est pas "
                f"valable (serveur {where.endpoint}, région « {where.region} ») ; forme "
                "attendue : s3://CLÉ:SECRET@serveur:port/compartiment?region=eu-west-3."
            ) from None

    def _fail(self, exc: Exception) -> StorageUnavailable:
        code = _error_code(exc) or type(exc).__name__
        detail = f"le stockage S3 {self.location} ne répond pas comme il le devrait ({code})"
        log.warning("attachment storage error: %s", detail)
        return StorageUnavailable(detail)

    def ensure(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except Exception as exc:
            if _error_code(exc) not in NOT_FOUND_CODES:
                raise self._fail(exc) from exc
        extra: dict[str, Any] = {}
        if self.where.region != "us-east-1":  # AWS wants the region named, except this one
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self.where.region}
        try:
            self.client.create_bucket(Bucket=self.bucket, **extra)
        except Exception as exc:
            if _error_code(exc) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False  # another machine created it meanwhile
            raise self._fail(exc) from exc
        return True

    def put(self, name: str, data: bytes) -> None:
        key = new_name(name)
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except Exception as exc:
            raise self._fail(exc) from exc

    def open(self, name: str) -> Download:
        key = check_name(name)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _error_code(exc) in NOT_FOUND_CODES:
                raise MissingAttachment(name) from None
            raise self._fail(exc) from exc
        body = answer["Body"]
        return Download(int(answer["ContentLength"]), self._chunks(body), body.close)

    def _chunks(self, body: Any) -> Iterator[bytes]:
        """The object's bytes; a connection lost or timed out midway is StorageUnavailable."""
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        except Exception as exc:
            raise self._fail(exc) from exc

    def delete(self, name: str) -> None:
        key = check_name(name)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise self._fail(exc) from exc

    def exists(self, name: str) -> bool:
        if not valid_name(name):
            return False
        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
        except Exception as exc:
            if _error_code(exc) in NOT_FOUND_CODES:
                return False
            raise self._fail(exc) from exc
        return True

    def files(self) -> Iterator[StoredFile]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    if valid_name(item["Key"]):
                        yield StoredFile(item["Key"], int(item["Size"]))
        except Exception as exc:
            raise self._fail(exc) from exc


def _error_code(exc: Exception) -> str | None:
    """The S3 error code of a botocore ClientError (or the HTTP status), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else None


def open_store(settings: Settings) -> AttachmentStore:
    """The store the settings name: the S3 bucket of `RESOURCE_CENTRE_S3_URL` when it is set,
    else `data/uploads/`. Raises StorageConfigError for a malformed URL (no network used)."""
    if settings.s3_url is not None and settings.s3_url.get_secret_value().strip():
        return S3Store(S3Location.parse(settings.s3_url.get_secret_value()))
    return DirectoryStore(settings.uploads_dir)
