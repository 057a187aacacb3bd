"""Every account is one mailbox: what its messages' To header and envelope name."""

from __future__ import annotations

import pytest

from resource_centre.auth import AccountError, create_user, single_address
from resource_centre.db import write_session


@pytest.mark.parametrize(
    "email",
    [
        "a@exemple.org,pirate@attaquant.example",
        "Nom <a@exemple.org>",
        "a@exemple.org\x00",
        "a@exemple.org\r\nBcc: pirate@attaquant.example",
        "a@@exemple.org",
        "sans-arobase",
        "a@" + "x" * 250 + ".org",
    ],
)
def test_create_user_refuses_anything_but_one_address(sqlite_engine, email):
    assert not single_address(email)
    with pytest.raises(AccountError) as refused, write_session(sqlite_engine) as session:
        create_user(session, email=email, password="un mot de passe assez long", role="curator")
    assert refused.value.field == "email"


def test_an_ordinary_address_is_one_mailbox(sqlite_engine):
    assert single_address("prenom.nom+veille@regie-du-canal.example")
    with write_session(sqlite_engine) as session:
        user = create_user(
            session, email="Prenom.Nom@Regie-du-Canal.example",
            password="un mot de passe assez long", role="curator",
        )  # fmt: skip
        assert user.email == "prenom.nom@regie-du-canal.example"
