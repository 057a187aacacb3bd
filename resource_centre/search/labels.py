"""French labels of facet values: vocabularies and Régies from the database, the formats of a
fiche (`kind`) from the taxonomy."""

from __future__ import annotations

from sqlmodel import Session, col, select

from resource_centre.models import Regie, Term
from resource_centre.taxonomy import KIND_LABELS, VOCABULARY_BY_NAME

Labels = dict[str, dict[str, str]]


def load_labels(session: Session) -> Labels:
    """Return facet name → slug → label, for every vocabulary value, every Régie and every
    format of fiche."""
    labels: Labels = {v.facet: {} for v in VOCABULARY_BY_NAME.values()}
    labels["regie"] = {}
    labels["kind"] = dict(KIND_LABELS)
    stmt = select(Term.vocabulary, Term.slug, Term.label).order_by(col(Term.position))
    for vocabulary, slug, label in session.execute(stmt):
        vocab = VOCABULARY_BY_NAME.get(vocabulary)
        if vocab is not None:
            labels[vocab.facet][slug] = label
    for slug, name in session.execute(select(Regie.slug, Regie.name)):
        labels["regie"][slug] = name
    return labels
