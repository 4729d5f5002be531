"""The translate service: text translation (MarianMT, CTranslate2, Apertium)."""

from voka.registry import declare

DECLARATION = declare("translate", 50052, __file__, consumes=())
