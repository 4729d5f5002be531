"""The number guard's reading of numbers, without any model: digits in either convention, number
words in English and Spanish, and the comparison a language model's translation must pass."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.translate.numbers import numbers, same_numbers


def values(text: str, language: str) -> list[Decimal]:
    return sorted(numbers(text, language).elements())


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("We sold 2,000 units in 2026.", "en", [2000, 2026]),
        ("Vendimos 2.000 unidades en 2026.", "es", [2000, 2026]),
        ("It costs $1,200.50, or 3.5 million.", "en", ["1200.50", 3_500_000]),
        ("Cuesta 1.200,50 $, o 3,5 millones.", "es", ["1200.50", 3_500_000]),
        ("two thousand three hundred", "en", [2300]),
        ("dos mil trescientas", "es", [2300]),
        ("dos millones quinientos mil", "es", [2_500_000]),
        ("a thousand people", "en", [1000]),
        ("mil personas", "es", [1000]),
        ("un millón de euros", "es", [1_000_000]),
        ("2 million", "en", [2_000_000]),
        ("thirty-five people at 10:30", "en", [10, 30, 35]),
        ("treinta y cinco personas a las 10:30", "es", [10, 30, 35]),
        ("ciento veinte, novecientos noventa y nueve, veintidós", "es", [22, 120, 999]),
        ("dieciséis y diecisiete", "es", [16, 17]),
        ("two three", "en", [2, 3]),
        ("zero and twenty", "en", [0, 20]),
        ("the 12th of May", "en", [12]),
    ],
)
def test_numbers_are_read_as_values(text: str, language: str, expected: list[object]) -> None:
    assert values(text, language) == sorted(Decimal(str(value)) for value in expected)


def test_one_is_left_out_since_articles_make_it_ambiguous() -> None:
    assert values("One client booked a meeting room.", "en") == []
    assert values("Un cliente reservó una sala.", "es") == []


def test_words_of_a_language_without_a_list_are_not_numbers() -> None:
    assert values("zwei tausend", "de") == []
    assert values("zweitausend und 5", "de") == [5]


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("Hemos vendido dos mil coches.", "We have sold 2,000 cars."),
        ("Hemos vendido dos mil coches.", "We have sold two thousand cars."),
        ("La reunión es el 12 de mayo a las 10:30.", "The meeting is on 12 May at 10:30."),
        ("Cuesta 1.200 euros.", "It costs 1,200 euros."),
        ("Un cliente llamó.", "A client called."),
    ],
)
def test_translations_keeping_the_numbers_pass(source: str, output: str) -> None:
    assert same_numbers(source, "es", output, "en")


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("Hemos vendido dos mil coches.", "We have sold two million cars."),
        ("Hemos vendido dos mil coches.", "We have sold cars."),
        ("La reunión es a las 10:30.", "The meeting is at 11:30."),
        ("Cuesta 1.200 euros.", "It costs 12,000 euros."),
        ("Vinieron tres personas.", "Three or four people came."),
    ],
)
def test_translations_changing_a_number_fail(source: str, output: str) -> None:
    assert not same_numbers(source, "es", output, "en")


def test_pairs_outside_english_and_spanish_compare_digits_only() -> None:
    assert same_numbers("Il y a 3 chats.", "fr", "Es gibt 3 Katzen.", "de")
    assert not same_numbers("Il y a 3 chats.", "fr", "Es gibt 4 Katzen.", "de")
    # "trois" and "three" are not read here: only the digits are compared.
    assert same_numbers("trois chats", "fr", "three cats", "en")
