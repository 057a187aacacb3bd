"""The table of issue #13, through HTTP: each row typed in `/api/writeups?q=` on the demo
corpus gives one of its expected fiches in the top 3.

The rows and their expected fiches are the `table: true` entries of
tests/data/relevance.yaml (the judged set of tests/search/test_relevance.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from starlette.testclient import TestClient

from resource_centre.web.app import create_app
from tests.conftest import DEMO_KNOWLEDGE, ROOT
from tests.web.conftest import build_settings

JUDGED = ROOT / "tests" / "data" / "relevance.yaml"
ROWS = [e for e in yaml.safe_load(JUDGED.read_text(encoding="utf-8")) if e.get("table")]
# Rows that miss before the work is done: xfail(strict) so that they show when they
# flip. Remove a row from here once it passes.
FAILING_TODAY: set[str] = set()  # QPV, HLM, EPCI and deux-roues failed before the glossary


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = build_settings(tmp_path_factory.mktemp("issue13"), knowledge=DEMO_KNOWLEDGE)
    # The context manager runs the lifespan: index created and caught up, sync thread on.
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_the_table_has_its_rows() -> None:
    assert len(ROWS) == 16  # the rows
    assert {row["q"] for row in ROWS} >= FAILING_TODAY


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(
            row,
            id=row["q"],
            marks=[pytest.mark.xfail(strict=True, reason="issue #13 not done yet")]
            if row["q"] in FAILING_TODAY
            else [],
        )
        for row in ROWS
    ],
)
def test_table_row_finds_an_expected_fiche_in_the_top_3(demo_client: TestClient, row) -> None:
    response = demo_client.get("/api/writeups", params={"q": row["q"], "page_size": 3})
    assert response.status_code == 200, response.text
    top = [hit["slug"] for hit in response.json()["data"]]
    assert set(top) & set(row["relevant"]), f"{row['q']!r}: top 3 {top}"
