"""Settings, read from the environment (prefix RESOURCE_CENTRE_) or a `.env` file."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"


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
    # Not in the contract's table: tuning knobs with safe defaults.
    index_poll_seconds: float = 0.1
    render_seconds: float = 2.0  # time limit of the Markdown rendering of one web request
    # Requests computed at once per process: one process computes on one core (the GIL), so
    # a few threads serve as fast as many and leave the index sync thread its turn.
    request_threads: int = Field(default=4, ge=1, le=200)
    session_idle_minutes: int = 120
    session_max_hours: int = 12
    # Quotas and retention; LOG_RETENTION_DAYS is in the contract (section 10). 0: no limit.
    log_retention_days: int = Field(default=400, ge=1)
    upload_quota_mb: int = Field(default=100, ge=0)  # attachments in all, per account
    drafts_per_day: int = Field(default=20, ge=0)  # new fiches per account in 24 hours
    anonymous_reports_per_window: int = Field(default=5, ge=0)  # "Signaler ce besoin"
    anonymous_window_minutes: int = Field(default=10, ge=1)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @cached_property
    def secret_key(self) -> str:
        """Return the configured key, or the one generated once into the data dir."""
        if self.secret_key_value:
            return self.secret_key_value
        return load_or_create_secret(self.data_dir)


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
