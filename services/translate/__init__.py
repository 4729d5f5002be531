"""The translate service: text translation (MarianMT, CTranslate2, Apertium)."""
