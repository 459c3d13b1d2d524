"""Named groups' names as the search reads them: words folded (case and accents aside), a query word matching the
beginning of a name's word, and bounds on what is indexed and asked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.groups import (
    MAX_NAME_WORDS,
    Group,
    indexed_by,
    matches,
    name_words,
    query_words,
    search_word,
)

T0 = datetime(2026, 11, 22, tzinfo=UTC)


def group(name: str, kind: str = "event") -> Group:
    return Group(account_id="acme", kind=kind, id="g1", name=name, created_at=T0, updated_at=T0)


def test_a_names_words_are_folded_distinct_and_sorted() -> None:
    assert name_words("Zoë ÅNNSTRÖM, École d'Été") == ("annstrom", "d", "ecole", "ete", "zoe")
    assert name_words("Gala gala GALA 2026") == ("2026", "gala")
    assert name_words("Ana García (sales)") == ("ana", "garcia", "sales")


def test_a_name_indexes_at_most_twenty_words() -> None:
    assert len(name_words(" ".join(f"w{n}" for n in range(50)))) == MAX_NAME_WORDS


def test_every_query_word_must_begin_a_word_of_the_name() -> None:
    gala = group("Annual Charity Gala 2026")
    assert matches(gala, query_words("ann gal"))
    assert matches(gala, query_words("CHAR"))
    assert matches(gala, query_words("2026"))
    assert not matches(gala, query_words("ala"))
    assert not matches(gala, query_words("gala spring"))
    assert not matches(gala, query_words("gala"), kind="employee")


def test_the_index_is_read_under_the_longest_query_word_and_a_group_once() -> None:
    assert search_word(query_words("ann charity")) == "charity"
    both = group("Anna Annual-Reviewer")
    assert indexed_by(both, "ann") == "anna"  # not also under "annual"
    assert indexed_by(both, "zzz") is None


@pytest.mark.parametrize("q", ["", "  ", "!!", " ".join(f"w{n}" for n in range(9))])
def test_a_query_of_no_word_or_too_many_is_refused(q: str) -> None:
    with pytest.raises(InvalidRequest):
        query_words(q)


@pytest.mark.parametrize("name", ["", "   ", "!!!", "line\nbreak", "bidi \u202e override", "x" * 201])
def test_a_name_people_cannot_read_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        group(name)
