"""`format=html`: the text between the tags is translated, the markup is kept.

The engines translate plain text, so an HTML text is split into its markup (kept verbatim:
tags with their attributes, comments, declarations, the code inside `<script>` and `<style>`)
and its text nodes, each translated on its own and escaped back in place with the whitespace
around it. A node is a unit of meaning often enough (a paragraph, a link's words); a sentence
broken by inline tags is translated in pieces, as LibreTranslate's own HTML support does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser

# Elements whose content is code, not prose: kept as it is.
RAW_TEXT = frozenset({"script", "style"})


@dataclass(frozen=True)
class _Slot:
    """Where a text node goes back: its index in the pieces, and the whitespace around it."""

    index: int
    before: str
    after: str


@dataclass
class Document:
    """An HTML text as markup pieces and the text nodes to translate."""

    pieces: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    slots: list[_Slot] = field(default_factory=list)

    def join(self, translated: list[str]) -> str:
        """The HTML with `translated[i]` in place of `texts[i]`."""
        pieces = list(self.pieces)
        for slot, text in zip(self.slots, translated, strict=True):
            pieces[slot.index] = slot.before + escape(text, quote=False) + slot.after
        return "".join(pieces)


def parse(html: str) -> Document:
    splitter = _Splitter()
    splitter.feed(html)
    splitter.close()
    return splitter.document


class _Splitter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.document = Document()
        self._raw_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._keep(self.get_starttag_text() or f"<{tag}>")
        if tag in RAW_TEXT:
            self._raw_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._keep(self.get_starttag_text() or f"<{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        self._keep(f"</{tag}>")
        if tag in RAW_TEXT and self._raw_depth:
            self._raw_depth -= 1

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if self._raw_depth or not text:
            self._keep(data if self._raw_depth else escape(data, quote=False))
            return
        start = data.index(text)
        slot = _Slot(len(self.document.pieces), data[:start], data[start + len(text) :])
        self.document.slots.append(slot)
        self.document.texts.append(text)
        self._keep(text)

    def handle_comment(self, data: str) -> None:
        self._keep(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self._keep(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self._keep(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self._keep(f"<![{data}]>")

    def _keep(self, piece: str) -> None:
        self.document.pieces.append(piece)
