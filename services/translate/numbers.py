"""The numbers a sentence states, so a language model's translation can be checked against
its source: a model may turn "dos mil" into "two million" while the rest reads well.

Numbers are read as values, whatever their spelling: digits with either thousands separator
("2,000", "2.000", "2 000" is two numbers), decimals ("3.5", "3,5"), and, in English and
Spanish, number words from zero to twenty, the tens, the hundreds and the multipliers
(thousand, million, mil, millón), with digits before a multiplier ("2 million"). Words count
only when both languages have word lists here; otherwise only digits are compared.

One is left out on both sides: "a"/"un"/"una" make it too ambiguous to count ("a meeting",
"una reunión"), and a model changing one into another number is not the failure this guards.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping
from decimal import Decimal

_UNITS_EN = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_UNITS_ES = (
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince "
    "dieciseis diecisiete dieciocho diecinueve veinte"
)
_TENS_EN = "thirty forty fifty sixty seventy eighty ninety"
_TENS_ES = "treinta cuarenta cincuenta sesenta setenta ochenta noventa"
_VEINTI = (
    "veintiuno veintidos veintitres veinticuatro veinticinco veintiseis veintisiete "
    "veintiocho veintinueve"
)
_HUNDREDS_ES = (
    "doscientos trescientos cuatrocientos quinientos seiscientos setecientos ochocientos "
    "novecientos"
)


def _values(words: str, start: int, step: int = 1) -> dict[str, int]:
    """`words` (space-separated) valued start, start + step, ..."""
    return {word: start + step * index for index, word in enumerate(words.split())}


# Words that are a value (summed), by language; accents are stripped before lookup.
VALUES: Mapping[str, Mapping[str, int]] = {
    "en": {**_values(_UNITS_EN, 0), **_values(_TENS_EN, 30, 10)},
    "es": {
        **_values(_UNITS_ES, 0),
        **_values(_TENS_ES, 30, 10),
        **_values(_VEINTI, 21),
        **_values(_HUNDREDS_ES, 200, 100),
        **_values(re.sub(r"os\b", "as", _HUNDREDS_ES), 200, 100),  # doscientas ...
        "veintiun": 21,
        "veintiuna": 21,
        "una": 1,
        "un": 1,
        "cien": 100,
        "ciento": 100,
    },
}
# Words that multiply what came before them (nothing before: one).
MULTIPLIERS: Mapping[str, Mapping[str, int]] = {
    "en": {"hundred": 100, "thousand": 1000, "million": 10**6, "millions": 10**6},
    "es": {"mil": 1000, "millon": 10**6, "millones": 10**6},
}
# Words that join two parts of one number ("thirty-five" is split on the hyphen).
JOINERS: Mapping[str, frozenset[str]] = {"en": frozenset({"and"}), "es": frozenset({"y"})}

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+", re.UNICODE)
_GROUPED = re.compile(r"\d{1,3}(?:[.,]\d{3})+")


def numbers(text: str, language: str, *, words: bool = True) -> Counter[Decimal]:
    """The values `text` states, each as often as it is stated; one left out (see above)."""
    found: Counter[Decimal] = Counter()
    lexicon = VALUES.get(language, {}) if words else {}
    multipliers = MULTIPLIERS.get(language, {}) if words else {}
    joiners = JOINERS.get(language, frozenset())
    for value in _read(_tokens(text), lexicon, multipliers, joiners):
        if value != 1:
            found[value] += 1
    return found


def same_numbers(source: str, source_language: str, output: str, target_language: str) -> bool:
    """Whether a translation states the numbers its source states, as values."""
    words = source_language in VALUES and target_language in VALUES
    return numbers(source, source_language, words=words) == numbers(
        output, target_language, words=words
    )


def _tokens(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return _TOKEN.findall(plain)


def _digits(token: str) -> Decimal:
    """'2,000' and '2.000' are two thousand; '3.5' and '3,5' three and a half; with both
    separators the last is the decimal one ('1,200.50', '1.200,50')."""
    separators = [c for c in token if c in ".,"]
    if not separators or _GROUPED.fullmatch(token):
        return Decimal(re.sub(r"[.,]", "", token))
    whole, _, fraction = token.rpartition(separators[-1])
    return Decimal(f"{re.sub(r'[.,]', '', whole)}.{fraction}")


def _read(
    tokens: list[str],
    lexicon: Mapping[str, int],
    multipliers: Mapping[str, int],
    joiners: frozenset[str],
) -> Iterator[Decimal]:
    """Values, one per run of number tokens: "two thousand three hundred" is 2300, "dos mil"
    2000, "2 million" two million; a digit run ends at the next digit token ("10 20")."""
    total, current, open_ = Decimal(0), Decimal(0), False
    for token in tokens:
        if token[0].isdigit():
            if open_:
                yield total + current
            total, current, open_ = Decimal(0), _digits(token), True
        elif token in multipliers:
            total, current = _multiplied(total, current, multipliers[token])
            open_ = True
        elif lexicon.get(token) and (not open_ or _extends(current, lexicon[token])):
            current += lexicon[token]
            open_ = True
        elif open_ and token in joiners:
            continue
        else:
            if open_:
                yield total + current
            total, current, open_ = Decimal(0), Decimal(0), False
            if token in lexicon and not lexicon[token]:  # "zero" is a number of its own
                yield Decimal(0)
            elif token in lexicon:
                current, open_ = Decimal(lexicon[token]), True
    if open_:
        yield total + current


def _multiplied(total: Decimal, current: Decimal, factor: int) -> tuple[Decimal, Decimal]:
    """A multiplier word applied: hundred scales the part being read ("two hundred"); thousand
    and million close it into the total ("two thousand" then "three"); nothing before: one."""
    scaled = (current or Decimal(1)) * factor
    return (total, scaled) if factor == 100 else (total + scaled, Decimal(0))


def _extends(current: Decimal, value: int) -> bool:
    """Whether a word's value continues the number so far rather than starting another: only
    below the number's lowest non-zero place ("thirty five", "doscientos treinta", "two
    thousand three"), never after units ("two three" is two numbers)."""
    if current == 0:
        return True
    place = 1
    while current % (place * 10) == 0:
        place *= 10
    return value < place
