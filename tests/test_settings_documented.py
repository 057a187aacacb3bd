"""Every setting an operator can give is in the configuration table of docs/operations.md,
and the table lists no variable the application does not read."""

from __future__ import annotations

import re
from pathlib import Path

from resource_centre.config import Settings

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def environment_names() -> set[str]:
    """The variable each `Settings` field is read from (its alias, or prefix + name)."""
    prefix = Settings.model_config.get("env_prefix", "")
    return {
        field.alias if field.alias else f"{prefix}{name}".upper()
        for name, field in Settings.model_fields.items()
    }


def table_rows() -> set[str]:
    """The variables of the configuration table: rows starting with | `RESOURCE_CENTRE_…` |."""
    text = OPERATIONS.read_text("utf-8")
    return set(re.findall(r"^\| `(RESOURCE_CENTRE_[A-Z0-9_]+)` \|", text, re.MULTILINE))


def test_every_setting_has_a_row_in_the_operations_table():
    assert environment_names() - table_rows() == set()


def test_the_operations_table_lists_only_real_settings():
    assert table_rows() - environment_names() == set()


def test_names_are_read_from_the_settings_class():
    names = environment_names()
    assert "RESOURCE_CENTRE_DATABASE_URL" in names
    assert "RESOURCE_CENTRE_SECRET_KEY" in names  # an alias, not secret_key_value
