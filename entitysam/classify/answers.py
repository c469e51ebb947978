"""Map a language model's free-text answer to exactly one candidate category, or none.

Rules, in order (all comparisons on :func:`~entitysam.classify.vocab.normalise`\\ d text:
lower case, ``_``/``-`` as spaces, markdown and quotes removed, trailing punctuation dropped):

1. an answer that starts with the word "none" (or is empty) -> none;
2. the whole answer equals an alias of a category (its prompt name, dataset name, or one
   alternative of an "a or b" name) -> that category;
3. otherwise every alias found inside the answer as whole words (a plural "s"/"es" allowed)
   is collected; an occurrence lying inside a longer occurrence is dropped ("teddy bear"
   hides "bear", "dining table" hides "table"); if the remaining occurrences all name one
   category -> it, if they name two or more different categories -> none (ambiguous: we do
   not guess which one the model meant), if there is none -> none (unknown name).
"""

from __future__ import annotations

import re
from functools import lru_cache

from entitysam.classify.vocab import Category, Vocabulary, normalise

NONE = "none"


def clean_answer(text: str) -> str:
    """Normalised answer text: no markdown/quotes, no trailing punctuation, single spaces."""
    text = re.sub(r"[*`\"'“”‘’]", " ", text or "")
    text = normalise(text)
    return text.strip(" .,;:!?()[]{}")


@lru_cache(maxsize=64)
def _alias_patterns(vocab_key: tuple) -> list[tuple[re.Pattern, str, int]]:
    """(compiled whole-word pattern, alias, category id) for every alias, longest first."""
    out = []
    for alias, cid in vocab_key:
        # the alias as whole words, optionally plural; spaces in the alias match one space
        pat = re.compile(r"(?<![a-z0-9])" + re.escape(alias) + r"(?:e?s)?(?![a-z0-9])")
        out.append((pat, alias, cid))
    out.sort(key=lambda t: -len(t[1]))
    return out


def _alias_table(vocab: Vocabulary) -> tuple:
    return tuple((a, c.id) for c in vocab for a in c.aliases)


def parse_answer(text: str, vocab: Vocabulary) -> Category | None:
    """The single category the answer names, or None ("none", unknown or ambiguous)."""
    answer = clean_answer(text)
    if not answer or answer.split()[0] == NONE:
        return None
    table = _alias_table(vocab)
    exact = {cid for alias, cid in table if alias == answer}
    if len(exact) == 1:
        return vocab.by_id(exact.pop())
    spans: list[tuple[int, int, int]] = []  # (start, end, category id)
    for pat, _, cid in _alias_patterns(table):
        for m in pat.finditer(answer):
            spans.append((m.start(), m.end(), cid))
    kept = [s for s in spans
            if not any(o[0] <= s[0] and s[1] <= o[1] and (o[1] - o[0]) > (s[1] - s[0]) for o in spans)]
    found = {cid for _, _, cid in kept}
    if len(found) == 1:
        return vocab.by_id(found.pop())
    return None
