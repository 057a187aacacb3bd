"""Text helpers shared by every layer (no project imports)."""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_controls(text: str) -> str:
    """`text` without C0 control characters (tab, line feed and carriage return kept) or DEL."""
    return CONTROL.sub("", text)
