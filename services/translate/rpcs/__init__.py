"""The TranslateService servicer, joined from one mixin per resource of the contract."""

from __future__ import annotations

from services.translate.rpcs.languages import LanguageRpcs
from services.translate.rpcs.translations import TranslationRpcs
from services.translate.rpcs.usage import UsageRpcs


class TranslateServicer(TranslationRpcs, LanguageRpcs, UsageRpcs):
    """Every TranslateService RPC."""


__all__ = ["TranslateServicer"]
