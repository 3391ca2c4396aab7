"""Normalisation, comparison keys and sentence splitting."""

import pytest

from monitor.text import MAX_SENTENCE, key, normalize, split_sentences


def test_normalize_maps_typography_and_invisible_characters():
    raw = "\u201cKetamine\u201d\u00a0is\u200b  \u2018safe\u2019 \u2014 really\ufeff"
    assert normalize(raw) == "\"Ketamine\" is 'safe' - really"


def test_key_ignores_case_punctuation_and_spacing_but_not_numbers():
    assert key("87% of Patients  stay SOBER!") == key("87 % of patients stay sober")
    assert key("87% of patients stay sober") != key("78% of patients stay sober")


@pytest.mark.parametrize(("text", "expected"), [
    ("One. Two! Three? Four.", ["One.", "Two!", "Three?", "Four."]),
    ("Dr. Lee and Krupitsky et al. (2002) agree. Next.",
     ["Dr. Lee and Krupitsky et al. (2002) agree.", "Next."]),
    ("The dose is 0.5 mg/kg. J. Smith wrote it.", ["The dose is 0.5 mg/kg.", "J. Smith wrote it."]),
    ("A trial (Dakwar et al., Am J Psychiatry. 2019;176(11):923-930) found less drinking. Then.",
     ["A trial (Dakwar et al., Am J Psychiatry. 2019;176(11):923-930) found less drinking.",
      "Then."]),
    ('"This saved my life." The staff were kind.',
     ['"This saved my life."', "The staff were kind."]),
    ("66 % abstinence rates. 50 % heroin abstinence.", ["66 % abstinence rates.",
                                                         "50 % heroin abstinence."]),
    ("Is it addictive? No. It is not.", ["Is it addictive?", "No.", "It is not."]),
    ("See No. 5 and Nos. 7-9 of the list.", ["See No. 5 and Nos. 7-9 of the list."]),
    # the word before a period, after an opening bracket or quote, or another kind of space
    ("Ask for (Dr. Lee) or \"Mrs. Ray\". Then.", ['Ask for (Dr. Lee) or "Mrs. Ray".', "Then."]),
    ("Call Dr.\u1680Lee today. Then.", ["Call Dr.\u1680Lee today.", "Then."]),
    ("We treat " + "x" * 60 + ". Then.", ["We treat " + "x" * 60 + ".", "Then."]),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_split_sentences_of_an_unclosed_parenthesis_does_not_swallow_the_page():
    text = "(unclosed " + "word. Another sentence. " * 100
    assert len(split_sentences(text)) > 50


def test_text_without_sentence_ends_is_cut_into_bounded_pieces_losing_no_word():
    words = [f"word{i}" for i in range(3000)]
    text = " ".join(words) + " and " + "x" * 5000  # then one "word" with no space to cut at
    pieces = split_sentences(text)
    assert len(pieces) > 5
    assert all(len(p) <= MAX_SENTENCE for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert split_sentences("A normal sentence. Another one.") == ["A normal sentence.",
                                                                  "Another one."]


def test_the_ascii_fast_path_of_normalize_gives_what_nfkc_and_the_mapping_give():
    import random
    import unicodedata

    from monitor import text as t

    def general(s: str) -> str:
        mapped = unicodedata.normalize("NFKC", s).translate(t._TRANSLATE)
        return t._SPACES.sub(" ", mapped).strip()

    alphabet = [chr(c) for c in range(128)]
    rng = random.Random(7)
    samples = ["".join(rng.choices(alphabet, k=rng.randrange(0, 40))) for _ in range(3000)]
    samples += [c * 3 for c in alphabet] + ["  a\t\tb \x0b c\x1c\x1f ", "\ttab "]
    for s in samples:
        assert normalize(s) == general(s), repr(s)


def test_the_ascii_fast_path_of_key_gives_what_the_regexes_give():
    import random

    from monitor import text as t

    def general(s: str) -> str:
        folded = t._SPACED_PERCENT.sub(r"\1%", normalize(s).casefold())
        return t._NON_WORD.sub(" ", folded).strip()

    alphabet = [chr(c) for c in range(128)] + list("  5%$_aZ")
    rng = random.Random(11)
    samples = ["".join(rng.choices(alphabet, k=rng.randrange(0, 40))) for _ in range(20000)]
    samples += [c * 3 for c in alphabet] + ["85 %  of patients", "$1,200 \x1c_x_ 9\t%",
                                            "7 \x1c\x1f%", "7\x0b\r\n %  \x1e"]
    for s in samples:
        assert key(s) == general(s), repr(s)
    assert key("85 %  of Patients, sober!") == "85% of patients sober"
