"""Signed unsubscription links (List-Unsubscribe, RFC 8058, and the link in each message).

A token names an e-mail address and proves that the site made it: the URL-safe base64 of
the lower-cased address, a dot, and the URL-safe base64 of its HMAC-SHA256 under the site's
secret key (with a purpose prefix, so that no other signature of the site can stand in for
it). Whoever holds a message can stop the notifications of its address, and nobody else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

PURPOSE = b"resource-centre/unsubscribe:"
MAX_TOKEN_CHARS = 1000  # an address is at most 254 characters; its token about 390
MAX_ADDRESS_CHARS = 254
B64_TEXT = re.compile(r"[A-Za-z0-9_-]+")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    """Decode unpadded URL-safe base64 strictly (one spelling per token); raises ValueError."""
    if not B64_TEXT.fullmatch(text):
        raise ValueError("not unpadded URL-safe base64")
    padded = text + "=" * (-len(text) % 4)
    data = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
    if _b64(data) != text:  # unused low bits set: another spelling of the same bytes
        raise ValueError("not the canonical spelling")
    return data


def _mac(secret_key: str, address: str) -> bytes:
    return hmac.new(
        secret_key.encode("utf-8"), PURPOSE + address.encode("utf-8"), hashlib.sha256
    ).digest()


def make_token(secret_key: str, recipient: str) -> str:
    """The unsubscription token of `recipient` (an e-mail address, compared lower-cased)."""
    address = recipient.strip().lower()
    return f"{_b64(address.encode('utf-8'))}.{_b64(_mac(secret_key, address))}"


def read_token(secret_key: str, token: str) -> str | None:
    """The lower-cased address a token was made for, or None if it is forged or malformed.

    Never raises, whatever `token` holds; the signature is compared in constant time.
    """
    try:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        encoded_address, encoded_mac = token.split(".")
        address = _unb64(encoded_address).decode("utf-8")
        mac = _unb64(encoded_mac)
    except (ValueError, binascii.Error, UnicodeError):
        return None
    if (
        not address
        or len(address) > MAX_ADDRESS_CHARS
        or address != address.strip().lower()
        or "@" not in address
    ):
        return None
    if not hmac.compare_digest(mac, _mac(secret_key, address)):
        return None
    return address
