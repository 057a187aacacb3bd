"""One fiche as the JSON API gives it (`GET /api/writeups/{slug}`): the model and its
serialisation, with what only curators and the fiche's Régie may see."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from resource_centre import attachments
from resource_centre.figures import FIGURE_KEYS, normalized_figures
from resource_centre.models import Attachment, Regie, WriteUp
from resource_centre.taxonomy import SECTION_KEYS
from resource_centre.web.urls import absolute_url_for
from resource_centre.writeups import is_curator, same_regie

# A figure is a number; `funding_eur` maps a scheme's slug to euros.
FigureValue = int | float | dict[str, int | float]
REVIEW_ONLY_FIELDS = frozenset({"interview_requested"})  # left out for other callers


class RegieRef(BaseModel):
    slug: str
    name: str


class AttachmentOut(BaseModel):
    title: str = Field(description="Le titre du document (à défaut, le nom du fichier).")
    name: str = Field(description="Le nom du fichier.")
    url: str = Field(description="Son adresse de téléchargement.")
    size: int = Field(description="Sa taille en octets.")
    content_type: str


class WriteUpDetail(BaseModel):
    slug: str
    url: str
    title: str
    summary: str
    kind: Literal["fiche", "express"] = Field(
        description="`fiche` (complète) ou `express` (courte : six questions)."
    )
    regie: RegieRef | None
    region: str | None
    themes: list[str]
    activity: str | None
    audiences: list[str]
    schemes: list[str]
    partners: list[str] = Field(
        description="Les partenaires, chacun « Nom — rôle » quand son rôle est donné."
    )
    year_start: int | None
    year_end: int | None
    status: str
    featured: bool
    published_at: date | None
    updated_at: datetime
    figures: dict[str, FigureValue] = Field(
        default_factory=dict,
        description=(
            "Les chiffres de la fiche, tels qu'enregistrés (tous facultatifs) : "
            f"{', '.join(f'`{key}`' for key in FIGURE_KEYS)} ; `funding_eur` associe "
            "l'identifiant d'un dispositif (`schemes` de `/api/taxonomy`) à un montant en euros."
        ),
    )
    interview_requested: bool | None = Field(
        default=None,
        description=(
            "La Régie demande à l'équipe du réseau un entretien pour compléter la fiche. "
            "Donné seulement aux curateurs et aux membres de la Régie de la fiche."
        ),
    )
    network_note: str | None = Field(
        default=None, description="Le « Regard du réseau », en Markdown."
    )
    network_note_html: str | None = Field(
        default=None, description="Le « Regard du réseau », en HTML (nettoyé)."
    )
    attachments: list[AttachmentOut] = Field(default_factory=list)
    sections: dict[str, str]
    html: dict[str, str]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def stored_figures(value: Any) -> dict[str, FigureValue]:
    """A fiche's figures in their canonical order; a value that is not a number (which
    validation keeps out of the database) is left out rather than failing the answer."""
    figures = normalized_figures(value) if isinstance(value, Mapping) else {}
    return {
        key: number
        for key, number in figures.items()
        if _number(number)
        or (isinstance(number, Mapping) and all(_number(v) for v in number.values()))
    }


def may_see_review(user: Any, writeup: WriteUp) -> bool:
    """Whether `user` may see a fiche's review data: curators and the fiche's Régie."""
    return is_curator(user) or same_regie(user, writeup)


def published_attachments(session: Session, writeup: WriteUp) -> list[Attachment]:
    """The documents readers see, on the fiche's page and in the API: not those of a proposed
    revision still under review (its Régie and the curators find them in the fiche's form
    and on its review page until it is published)."""
    return [item for item in attachments.of_writeup(session, writeup) if not item.pending]


def attachment_out(request: Request, writeup: WriteUp, attachment: Attachment) -> AttachmentOut:
    url = absolute_url_for(request, "download", slug=writeup.slug, attachment_id=attachment.id)
    return AttachmentOut(
        title=attachment.title or attachment.original_name,
        name=attachment.original_name,
        url=url,
        size=attachment.size,
        content_type=attachment.content_type,
    )


def detail(
    request: Request, session: Session, writeup: WriteUp, regie: Regie | None
) -> WriteUpDetail:
    """Every field of a fiche (the review data included: see `detail_json`)."""
    return WriteUpDetail(
        slug=writeup.slug,
        url=absolute_url_for(request, "fiche", slug=writeup.slug),
        title=writeup.title,
        summary=writeup.summary,
        kind="express" if writeup.kind == "express" else "fiche",
        regie=RegieRef(slug=regie.slug, name=regie.name) if regie else None,
        region=regie.region if regie else None,
        themes=writeup.themes,
        activity=writeup.activity,
        audiences=writeup.audiences,
        schemes=writeup.schemes,
        partners=writeup.partners,
        year_start=writeup.year_start,
        year_end=writeup.year_end,
        status=writeup.status,
        featured=writeup.featured,
        published_at=writeup.published_at,
        updated_at=writeup.updated_at,
        figures=stored_figures(writeup.figures),
        interview_requested=bool(writeup.interview_requested),
        network_note=writeup.network_note or None,
        network_note_html=(writeup.network_note_html or None) if writeup.network_note else None,
        attachments=[
            attachment_out(request, writeup, a) for a in published_attachments(session, writeup)
        ],
        sections={k: writeup.sections[k] for k in SECTION_KEYS if writeup.sections.get(k)},
        html={k: writeup.sections_html[k] for k in SECTION_KEYS if writeup.sections_html.get(k)},
    )


def detail_json(answer: WriteUpDetail, user: Any, writeup: WriteUp) -> str:
    """The JSON of a fiche for `user`: without the review data unless they may see it."""
    hidden = set() if may_see_review(user, writeup) else set(REVIEW_ONLY_FIELDS)
    return answer.model_dump_json(exclude=hidden)
