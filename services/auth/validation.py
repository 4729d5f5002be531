"""Normalising and checking what clients send: usernames, emails, passwords, preferences,
pages.

Every bad field is reported at once (a BadRequest with one violation each), so a form can mark
all of them in one round trip.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voka import errors, pagination
from voka.errors import FieldViolation
from voka.pagination import Page

USERNAME = re.compile(r"^[\w.-]{3,32}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
SERVICE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
PASSWORD_MIN, PASSWORD_MAX = 10, 256
DISPLAY_NAME_MAX = 100
SETTINGS_MAX_KEYS, SETTINGS_MAX_BYTES = 64, 16 * 1024


def normal_username(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def username_key(value: str) -> str:
    """Usernames are unique compared case-insensitively."""
    return normal_username(value).casefold()


def normal_email(value: str) -> str:
    return value.strip().lower()


def username_problems(value: str, field: str = "username") -> list[FieldViolation]:
    if USERNAME.match(value) and value.isascii():
        return []
    text = "3 to 32 characters of letters, digits, '.', '_' and '-'"
    return [FieldViolation(field, text)]


def email_problems(value: str, field: str = "email") -> list[FieldViolation]:
    if len(value) <= 254 and EMAIL.match(value):
        return []
    return [FieldViolation(field, "not an email address")]


def password_problems(value: str, field: str = "password") -> list[FieldViolation]:
    if PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        return []
    return [FieldViolation(field, f"{PASSWORD_MIN} to {PASSWORD_MAX} characters")]


def display_name_problems(value: str, field: str = "display_name") -> list[FieldViolation]:
    if len(value) <= DISPLAY_NAME_MAX:
        return []
    return [FieldViolation(field, f"at most {DISPLAY_NAME_MAX} characters")]


def language_problems(value: str, field: str = "language_code") -> list[FieldViolation]:
    if not value or LANGUAGE.match(value):
        return []
    return [FieldViolation(field, "a BCP-47 language code, e.g. 'es' or 'pt-BR'")]


def time_zone_problems(value: str, field: str) -> list[FieldViolation]:
    if not value:
        return []
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return [FieldViolation(field, "an IANA time zone, e.g. 'Europe/Madrid'")]
    return []


def settings_problems(value: dict[str, object], field: str) -> list[FieldViolation]:
    if len(value) > SETTINGS_MAX_KEYS:
        return [FieldViolation(field, f"at most {SETTINGS_MAX_KEYS} keys")]
    if len(json.dumps(value)) > SETTINGS_MAX_BYTES:
        return [FieldViolation(field, f"at most {SETTINGS_MAX_BYTES} bytes of JSON")]
    return []


def service_problems(value: str, field: str = "service") -> list[FieldViolation]:
    """A service's domain name as the mesh spells them (`translate`): short enough to be a
    subject, never free text."""
    if SERVICE.fullmatch(value):
        return []
    text = "a service's name: 1 to 63 lowercase letters, digits, '_' and '-'"
    return [FieldViolation(field, text)]


def check(violations: list[FieldViolation]) -> None:
    if violations:
        raise errors.invalid_argument(violations)


def page(size: int, token: str, order: pagination.Order[Any], query: str) -> Page:
    """The page a List asks for: the kit's size bounds, and a token only the same query
    (`query`, the fingerprint of its filters) may continue."""
    page_size, bad_size = pagination.page_size(size)
    cursor, bad_token = pagination.decode_token(token, order, query)
    check(bad_size + bad_token)
    return Page(page_size, cursor)
