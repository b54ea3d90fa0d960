"""Prose-like token streams: the emulator's "model". Pure and deterministic for a given ``Random``.

A *token* here is one word with its leading space and trailing punctuation (``" river,"``), or a
paragraph break ``"\\n\\n"``. The same notion of token is used for usage counting, pacing and
``max_tokens`` so the numbers always agree with what was streamed.
"""

from __future__ import annotations

import random

_WORD_TEXT = """
    the a an of to in for on with by from as at into over under about between through after before
    system stream record event signal model answer question value result message broker partition
    offset consumer producer topic request response token batch window buffer queue worker service
    river mountain garden window lantern harbor meadow forest valley ocean island desert canyon
    quietly carefully gently rapidly steadily clearly simply often rarely always sometimes usually
    bright calm careful curious distant early gentle honest little modern narrow patient quiet rapid
    simple steady subtle tidy warm wide young useful stable durable ordered eventual consistent
    build carry check choose compare consider describe explain follow gather guide handle hold keep
    learn measure move notice observe prepare reach read remember return shape share show solve
    start study test trace travel turn understand watch write balance deliver retry commit replay
    idea pattern reason detail example method process approach context structure boundary contract
    and but or so because while although unless since whereas therefore however meanwhile
    is are was were becomes remains seems stays grows moves holds returns arrives settles
"""
WORDS: tuple[str, ...] = tuple(_WORD_TEXT.split())

_OPENERS: tuple[str, ...] = ("Certainly", "Here", "In", "Consider", "First", "Overall", "Indeed", "Broadly")


def prose_tokens(rng: random.Random, count: int) -> list[str]:
    """``count`` tokens of sentence-shaped text: capitalised starts, commas, full stops, paragraphs."""
    tokens: list[str] = []
    sentence_left = 0
    sentences_in_paragraph = 0
    paragraph_size = rng.randint(3, 5)
    start_of_text = True
    while len(tokens) < count:
        if sentence_left == 0:
            if sentences_in_paragraph == paragraph_size and len(tokens) < count - 1:
                tokens.append("\n\n")
                sentences_in_paragraph = 0
                paragraph_size = rng.randint(3, 5)
                start_of_text = True
                continue
            sentence_left = rng.randint(5, 16)
            sentences_in_paragraph += 1
            word = rng.choice(_OPENERS) if not tokens else rng.choice(WORDS).capitalize()
        else:
            word = rng.choice(WORDS)
        sentence_left -= 1
        if sentence_left == 0 or len(tokens) == count - 1:
            word += "."
            sentence_left = 0
        elif rng.random() < 0.07:
            word += ","
        tokens.append(word if start_of_text else " " + word)
        start_of_text = False
    return tokens


def group_tokens(tokens: list[str], rng: random.Random, per_delta: int | None) -> tuple[list[str], list[int]]:
    """Group tokens into delta pieces of ``per_delta`` tokens (or 1..3 drawn from ``rng``).

    Returns the pieces and each piece's token count (they sum to ``len(tokens)``).
    """
    pieces: list[str] = []
    counts: list[int] = []
    i = 0
    while i < len(tokens):
        n = per_delta if per_delta else rng.randint(1, 3)
        chunk = tokens[i : i + n]
        pieces.append("".join(chunk))
        counts.append(len(chunk))
        i += n
    return pieces, counts


def cut_at_stop_sequence(tokens: list[str], stop_sequences: list[str]) -> tuple[list[str], str | None]:
    """Cut ``tokens`` just before the earliest stop sequence in their text.

    Returns the kept tokens (the last may be a partial token) and the matched sequence, or the
    tokens unchanged and ``None``. The real API does not emit the stop sequence itself.
    """
    text = "".join(tokens)
    best: tuple[int, str] | None = None
    for seq in stop_sequences:
        if not seq:
            continue
        pos = text.find(seq)
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, seq)
    if best is None:
        return tokens, None
    cut, seq = best
    kept: list[str] = []
    offset = 0
    for token in tokens:
        end = offset + len(token)
        if end <= cut:
            kept.append(token)
        else:
            if cut > offset:
                kept.append(token[: cut - offset])
            break
        offset = end
    return kept, seq
