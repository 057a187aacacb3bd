"""The fiche form's page, guided or express: what it shows around the fields (guidance, word
counts, partner and funding rows, themes proposed from the activity, the completeness
checklist) and the summary draft the contributor can ask for."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from resource_centre import attachments, checklist
from resource_centre.attachments import KINDS, MAX_PER_FICHE
from resource_centre.auth import issue_form_token
from resource_centre.figures import FIGURES
from resource_centre.guidance import (
    EXPRESS_QUESTIONS,
    EXPRESS_SUMMARY_SOURCES,
    FICHE_SUMMARY_SOURCES,
    FIGURE_HINTS,
    GUIDES,
    SUMMARY_WORDS,
    draft_summary,
    word_count,
    words_label,
)
from resource_centre.models import Regie, Term, User, WriteUp
from resource_centre.taxonomy import (
    KIND_LABELS,
    MAX_SUMMARY_CHARS,
    SECTION_BY_KEY,
    SECTIONS,
    STATUS_LABELS,
    VOCABULARIES,
)
from resource_centre.web import forms
from resource_centre.web.deps import current_user, render
from resource_centre.writeups import is_curator, is_revision

TEMPLATES = {"fiche": "contribute/form.html", "express": "contribute/express.html"}
PROPOSED_THEMES = 3  # themes proposed for an activity, at most
SUMMARY_ACTIONS = ("draft_summary", "replace_summary")
NOTHING_TO_DRAFT = (
    "écrivez d'abord le contexte et la démarche : la proposition de résumé en reprend les "
    "premières phrases"
)
NOTHING_TO_DRAFT_EXPRESS = (
    "répondez d'abord à « Qu'avez-vous fait ? » : la proposition de résumé reprend vos réponses"
)
DRAFTED_EXPRESS = (
    "Une proposition de résumé a été écrite à partir de vos réponses : relisez-la et "
    "corrigez-la avant d'enregistrer. Rien n'est encore enregistré."
)
DRAFTED = (
    "Une proposition de résumé a été écrite à partir du contexte et de la démarche : "
    "relisez-la et corrigez-la avant d'enregistrer. Rien n'est encore enregistré."
)
PROPOSED = (
    "Votre résumé n'a pas été modifié : une proposition est affichée à côté. Remplacez-le "
    "seulement si elle vous convient mieux. Rien n'est encore enregistré."
)


def choices(session: Session) -> dict[str, list[tuple[str, str]]]:
    """Vocabulary values and Régies offered by the form, in their display order."""
    result: dict[str, list[tuple[str, str]]] = {v.name: [] for v in VOCABULARIES}
    terms = session.execute(
        select(Term).where(col(Term.retired).is_(False)).order_by(col(Term.position), Term.label)
    ).scalars()
    for term in terms:
        result.setdefault(term.vocabulary, []).append((term.slug, term.label))
    result["regies"] = [
        (r.slug, r.name)
        for r in session.execute(
            select(Regie).where(col(Regie.retired).is_(False)).order_by(Regie.name)
        ).scalars()
    ]
    return result


def user_regie(session: Session, user: User) -> str:
    if user.regie_id is None:
        return ""
    regie = session.get(Regie, user.regie_id)
    return regie.slug if regie else ""


def activity_themes(session: Session, themes: set[str]) -> dict[str, list[str]]:
    """For each activity, the themes its published fiches most often have (those of at
    least half of them, at most PROPOSED_THEMES, else the most frequent one), offered
    themes only: the guided form ticks them when the activity is chosen."""
    counts: dict[str, Counter[str]] = {}
    fiches: Counter[str] = Counter()
    rows = session.execute(
        select(WriteUp.activity, WriteUp.themes).where(
            WriteUp.status == "published", col(WriteUp.activity).is_not(None)
        )
    ).all()
    for activity, fiche_themes in rows:
        fiches[activity] += 1
        counts.setdefault(activity, Counter()).update(t for t in fiche_themes if t in themes)
    mapping: dict[str, list[str]] = {}
    for activity, counter in counts.items():
        ranked = [t for t, _n in sorted(counter.items(), key=lambda item: (-item[1], item[0]))]
        frequent = [t for t in ranked if counter[t] * 2 >= fiches[activity]]
        chosen = (frequent or ranked[:1])[:PROPOSED_THEMES]
        if chosen:
            mapping[activity] = chosen
    return mapping


ACTIVITY_THEMES_TTL = 300.0  # seconds: the proposal follows new publications slowly, cheaply


def cached_activity_themes(
    request: Request, session: Session, themes: set[str]
) -> dict[str, list[str]]:
    """`activity_themes`, kept a few minutes per process: it reads every published fiche's
    activity and themes, too much for each display of the form in a large library."""
    key, now = frozenset(themes), time.monotonic()
    kept = getattr(request.app.state, "activity_themes", None)
    if kept is not None and kept[0] == key and now - kept[1] < ACTIVITY_THEMES_TTL:
        return kept[2]
    mapping = activity_themes(session, themes)
    request.app.state.activity_themes = (key, now, mapping)
    return mapping


def similar(request: Request, title: str, summary: str, exclude: str | None) -> list[Any]:
    """Up to three published fiches close to what is being written (information only)."""
    words = f"{title} {summary}".strip()
    if len(words) < 4:
        return []
    search = request.app.state.search
    results = search.search(
        search.parse({"q": [title or summary], "page_size": ["4"]}), source="hint"
    )
    return [hit for hit in results.hits if hit.slug != exclude][:3]


def _padded(rows: list[tuple[str, str]], at_least: int) -> list[tuple[str, str]]:
    """The rows typed, then empty ones: `at_least` rows in all, and always one empty."""
    return [*rows, *[("", "")] * max(at_least - len(rows), 1)]


def _word_labels(values: dict[str, Any], kind: str) -> dict[str, str]:
    """« 132 mots — objectif 80 à 200 » for each text field shown, as the page first shows
    it (static/guide.js keeps it up to date while typing)."""
    targets = {key: guide.words for key, guide in GUIDES.items()}
    if kind == "express":
        targets = {q.key: q.words for q in EXPRESS_QUESTIONS}
    targets["summary"] = SUMMARY_WORDS
    return {
        key: words_label(word_count(values.get(key, "")), words) for key, words in targets.items()
    }


def form_page(
    request: Request,
    session: Session,
    *,
    form: forms.FicheForm,
    writeup: WriteUp | None,
    status_code: int = 200,
    previews: dict[str, str] | None = None,
    similar: list[Any] | None = None,
    conflict: dict[str, Any] | None = None,
    form_token: str | None = None,
    version: int | None = None,
    notice: str | None = None,
    notice_kind: str = "error",
    summary_proposal: str | None = None,
) -> Response:
    """The form (guided or express, as `form.kind` says) with everything typed."""
    user = current_user(request)
    # A notice (the preview limit, a summary drafted) is shown where flash messages are.
    shown = (
        {"flash": {"kind": notice_kind, "message": notice}, "messages": [notice]} if notice else {}
    )
    kind = form.kind if form.kind in TEMPLATES else "fiche"
    offered = choices(session)
    files = attachments.of_writeup(session, writeup)
    result = checklist.evaluate(
        form.data(writeup.slug if writeup else "nouvelle-fiche"), attachments=len(files)
    )
    labels = {**forms.FIELD_LABELS, "form_token": "Formulaire", "quota": "Limite"}
    if kind == "express":
        labels.update({q.key: q.label for q in EXPRESS_QUESTIONS})
    return render(
        request,
        TEMPLATES[kind],
        {
            **shown,
            "form": form,
            "values": form.values,
            "errors": form.errors,
            "labels": labels,
            "sections": SECTIONS,
            "section_by_key": SECTION_BY_KEY,
            "guides": GUIDES,
            "express_questions": EXPRESS_QUESTIONS,
            "word_labels": _word_labels(form.values, kind),
            "summary_words": SUMMARY_WORDS,
            "summary_proposal": summary_proposal,
            "partner_rows": _padded(
                form.values["partner_rows"],
                forms.PARTNER_ROWS if kind == "fiche" else forms.EXPRESS_PARTNER_ROWS,
            ),
            "funding_rows": _padded(form.values["funding_rows"], forms.FUNDING_ROWS),
            "figures": FIGURES,
            "figure_hints": FIGURE_HINTS,
            "choices": offered,
            "activity_themes": cached_activity_themes(
                request, session, {slug for slug, _ in offered["themes"]}
            ),
            "checklist": result,
            "writeup": writeup,
            "growing": writeup is not None and writeup.kind == "express" and kind == "fiche",
            "kind_labels": KIND_LABELS,
            "revision": writeup is not None and is_revision(user, writeup),
            "attachments": files,
            "max_attachments": MAX_PER_FICHE,
            "max_summary": MAX_SUMMARY_CHARS,
            "accepted": ",".join(sorted(KINDS)),
            "previews": previews,
            "similar": similar or [],
            "conflict": conflict,
            "form_token": form_token
            or issue_form_token(request.app.state.settings.secret_key, user.id),
            "version": version if version is not None else (writeup.version if writeup else None),
            "can_choose_regie": is_curator(user),
            "status_labels": STATUS_LABELS,
        },
        status_code=status_code,
    )


def summary_draft(form: forms.FicheForm, action: str) -> dict[str, Any]:
    """Answer « Proposer un résumé » (`draft_summary`) or « Remplacer mon résumé »
    (`replace_summary`): the summary filled when empty or when asked, a proposal shown
    otherwise; everything else typed stays as it is. Returns `form_page`'s extra arguments."""
    express = form.kind == "express"
    sources = EXPRESS_SUMMARY_SOURCES if express else FICHE_SUMMARY_SOURCES
    draft = draft_summary(form.values[key] for key in sources)
    if not draft:
        form.errors["summary"] = NOTHING_TO_DRAFT_EXPRESS if express else NOTHING_TO_DRAFT
        return {"status_code": 422}
    drafted = DRAFTED_EXPRESS if express else DRAFTED
    if action == "replace_summary" or not form.values["summary"].strip():
        form.values["summary"] = draft
        return {"notice": drafted, "notice_kind": "info"}
    if form.values["summary"].strip() == draft:
        return {}
    return {"summary_proposal": draft, "notice": PROPOSED, "notice_kind": "info"}
