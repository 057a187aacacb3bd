"""Matching: the bitset of visible documents a parsed text query (`Node`) matches."""

from __future__ import annotations

from typing import Any

from resource_centre.search.caches import Generation
from resource_centre.search.textquery import Node, stem


class Evaluator:
    """Computes the bitset of visible documents a `Node` matches.

    With `sections` (section keys), words match only in those sections of the fiches
    (a phrase: somewhere in the fiche, each of its words in one of those sections)."""

    def __init__(self, searcher: Any, gen: Generation, sections: tuple[str, ...] = ()) -> None:
        self.searcher = searcher
        self.reader = searcher.reader()
        self.gen = gen
        self.sections = sections

    def _in_sections(self, term: str) -> int:
        bits = 0
        for section in self.sections:
            bits |= self.gen.section_bits(self.reader, section, term)
        return bits

    def _phrase_in_sections(self, words: tuple[str, ...], bits: int) -> int:
        for word in words:
            term = stem(word)
            if term and bits:
                bits &= self._in_sections(term)
        return bits

    def bits(self, node: Node, depth: int = 0) -> int:
        """Return the visible documents matching a node."""
        gen = self.gen
        if depth > 60:
            raise RecursionError("query too deep")
        kind = node[0]
        if kind == "stem":
            if self.sections:
                return self._in_sections(node[1])
            return gen.stem(self.reader, node[1]).bits
        if kind == "caps":
            return gen.spell_bits(self.reader, node[1])
        if kind == "phrase":
            words = node[1]
            if len(words) == 1:
                bits = gen.word_bits(self.reader, words[0])
            else:
                bits = gen.phrase(self.reader, words, gen.visible)
            return self._phrase_in_sections(words, bits) if self.sections else bits
        if kind == "and":
            result = gen.visible
            phrases = []
            for child in node[1]:
                if child[0] == "phrase" and len(child[1]) > 1:
                    phrases.append(child)  # verified last, on the fewest candidates
                    continue
                if not result:
                    return 0
                result &= self.bits(child, depth + 1)
            for child in node[2]:
                if not result:
                    return 0
                result &= ~self.bits(child, depth + 1)
            for child in phrases:
                if not result:
                    return 0
                result = gen.phrase(self.reader, child[1], result)
                if self.sections:
                    result = self._phrase_in_sections(child[1], result)
            return result
        if kind == "or":
            result = 0
            for child in node[1]:
                result |= self.bits(child, depth + 1)
            return result
        if kind == "not":
            return gen.visible & ~self.bits(node[1], depth + 1)
        if kind == "all":
            return gen.visible
        return 0
