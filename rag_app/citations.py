"""Check an answer's citations against the passages the model was given: a sentence counts as supported only
when a passage says it.

Small local models (the bundled SmolLM2-135M among them) often answer from the passages without writing
``[1]``, write ``[1]`` after a sentence passage 1 never says, or copy a passage's words around the wrong number
or with a "not" added. Sharing most words with a passage is not enough evidence: "UIDs 1000…65533" shares its
words with "UIDs 61184…65519", and "you should not use apt" with "you should use apt". So each sentence of the
answer is checked by :func:`support` against each passage, and supported only when, in some window of one to
three consecutive sentences of that passage:

* **its words are there**: at least ``min_support`` (:data:`MIN_SUPPORT`) of its content words, and at least
  three of them (all, for a shorter sentence). Content words (:func:`content_words`) are lowercase words that
  are no stop words, lightly stemmed ("uploads", "uploaded" and "uploading" are one word), numbers (written
  with digits or as "one" to "ninety-nine", in Chinese or Japanese numerals), and the character bigrams of
  Chinese, Japanese and Korean text;
* **its facts are there**: every number (thousands separators dropped, ranges "1000…65533" split into their
  ends, "ten" = "10" = "十"), with its unit when the passage gives that number a unit ("90 minutes" is not
  "90 seconds"), every name (a capitalised word that does not start the sentence, an acronym, ``x2``,
  ``apt-get``'s kin with digits or dots), every path and every link, case-insensitively; in a window of
  several sentences, in one that also holds another of its words, so "port 8080" is not read off a neighbour
  sentence about the web UI when the sentence about the API says 8000;
* **it says it the same way round**: a negation (not, no, never, n't, cannot, without, none, neither, nor …;
  不 没 沒 無 无 未 別 别 勿, ない ません なし せず, 않 없) covers the rest of its clause (a comma, semicolon,
  colon, bracket or "but" ends one), or, for the Japanese and Korean endings, the clause before it; a second
  negation undoes the first. Against each sentence of the window, no word the answer sentence states may be
  one the passage sentence only negates, none of its negations may fall mostly on words the passage sentence
  only states, and each of its negations needs a negation in the window over some of the same words. So an
  unrelated "not" elsewhere in the passage does not count, and "do not mix apt with dpkg" is supported by
  "use apt, but do not mix it with dpkg".

Each sentence of the answer is then reported as:

* **model** when it carries ``[n]`` markers: the markers are read (``cited``) and numbers that name no
  passage given to the model go to ``unknown``; it is ``supported`` when a cited passage supports it (``ids``:
  those), or, if none does, another given passage (``ids``: that one; the citation was wrong, the statement is
  not);
* **matched** when it carries no marker and a passage supports it (``ids``: every passage that does);
* **unsupported** otherwise, with a short ``reason`` ("number 65533 not in any passage", "negation differs
  from passage [1]"). A model-cited sentence no passage supports keeps origin "model", with
  ``supported`` false and ``ids`` empty.

List markers, labels and fragments are not statements: a leading "1.", "-", "a)", "Answer:", "Yes," is not
checked (the rest of the sentence is), and a sentence with fewer than two content words after that ("1.",
"Answer:", "See [1].") is left out of the report (its unknown markers still count).

What it gets wrong, knowingly (precision comes first): a capitalised word starting the sentence is not
checked as a name, so "Ubuntu uses apt for package management" passes on "Debian uses apt for package
management" (4 of 5 words); synonyms cost words ("data" for "readings"), so true paraphrases can fall under
``min_support``; a statement drawn from sentences more than three apart, or from two passages, is not
supported; negation by meaning ("avoid", "fails to") is not seen, and a word a passage sentence both states
and negates counts for neither side; an answer to a negative question that drops the negation ("What is not
covered?" "Damage from lightning.") reads as contradicting the passage; "90 minutes" is not "1.5 hours".

The answer text itself is never rewritten, so the streamed text and the invoked text stay the same; the
citations travel beside it. An answer of ten sentences against four passages is checked in a few
milliseconds.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from retrievers.lexical import CJK_CHARACTERS, cjk_bigrams, lexical_runs

__all__ = [
    "MIN_SUPPORT",
    "Citation",
    "CitationReport",
    "Support",
    "cite",
    "citations_line",
    "content_words",
    "split_sentences",
    "support",
]

MIN_SUPPORT = 0.85
"""Share of a sentence's content words that one window of a passage must contain for it to support the sentence.

Chosen on 334 hand-labelled answer sentences (``benchmarks/support_check_eval.py``): a small model's invented
details ride on words copied from the passage, so at 0.6 only 60 % of the sentences the check called supported
were; at 0.85, 18 of 19 (recall 0.46: true paraphrases with new words are marked unsupported, the safe error)."""

_MIN_SHARED_WORDS = 3
_WINDOW = 3
"""Longest run of consecutive passage sentences one answer sentence may rest on."""
_MIN_CLAIM_WORDS = 2
"""Fewer content words than this and a sentence is a fragment, not a statement that can be checked."""

_CJK = CJK_CHARACTERS
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_MARKER_TO_DROP = re.compile(r"\[\d+(?:\s*,\s*\d+)*\](?!\.\w|\()")  # not code's best[0].text
_STOPWORD_TEXT = (
    "a an and are as at be been being but by can could did do does for from had has have how i if in into is it "
    "its may might must no not of on or our should so than that the their them then there these they this to "
    "was we were what when where which while who why will with would you your yes also only just more most "
    "other some such very about after before over under up out ok please never none nothing nobody nowhere "
    "neither nor cannot without don doesn didn isn aren wasn weren won wouldn shouldn couldn hasn haven hadn "
    "mustn needn"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# ------------------------------------------------------------------------------------------------ sentences

# A sentence may end at . ! ? before white space, at Chinese/Japanese 。！？； (with a closing quote or bracket
# after it; CJK sentences follow one another without a space), or at a line break (see _breaks_line).
_BREAK = re.compile(r"[.!?]+[\"'”’)\]*_`]*(?=\s)|[。！？；]+[」』”’）)】]*|\n")
# Markers written after the full stop ("… batteries. [1]") belong to the sentence before them.
_MARKERS_AFTER = re.compile(r"[ \t]*\[\d+(?:\s*,\s*\d+)*\](?:[ \t]*\[\d+(?:\s*,\s*\d+)*\])*")
_ABBREVIATIONS = frozenset(["e.g", "i.e", "vs", "cf", "approx", "ca", "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr",
                            "resp", "incl"])
_NUMBERED_ABBREVIATIONS = frozenset(["no", "nr", "fig", "vol", "p", "pp", "ch", "sec"])  # "No. 5", "Fig. 3"
_LIST_ITEM = re.compile(r"\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})")  # what "1." or "a)" leaves before its dot
_LIST_START = re.compile(r"\s*(?:[-*•·‣◦+]\s|\(?(?:\d{1,3}|[a-zA-Z])[.)]\s|#)")
_LINE_END_PUNCTUATION = ".!?:;。！？；："
_LINE_CONTINUES_AFTER = ",-–(/，、"
_FUNCTION_WORD_TEXT = "a an the of to and or in on at by for with from as is are be than that"
_FUNCTION_WORDS = frozenset(_FUNCTION_WORD_TEXT.split())
_CJK_CHAR = re.compile(f"[{_CJK}]")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` spans of the non-empty sentences of ``text``, white space trimmed; the rule the support
    check uses for answers and passages alike.

    A sentence ends at ``.``, ``!`` or ``?`` followed by white space, unless the next word starts in lowercase
    ("e.g. apt", "vs. dpkg"), the word before is an abbreviation ("Dr.", "No. 5") or the sentence so far is a
    list number ("1. Install it." stays whole). It ends at Chinese and Japanese ``。！？；`` without a space.
    ``[n]`` markers written right after the full stop stay with it. A line break ends a sentence at a blank
    line, before a bullet or numbered line, after a heading (``#``) or a line ending in punctuation, and
    when the next line starts with a capital letter after a short line (a heading or a list); it does not when
    the next line starts in lowercase, the line ends with a comma, hyphen or a word like "of", a long line
    runs on into a capital, or Chinese/Japanese text runs on over the break (PDF text wraps mid-sentence).
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BREAK.finditer(text):
        if match.start() < start:
            continue
        if match.group() == "\n":
            if not _breaks_line(text, match.start()):
                continue
            _add_span(spans, text, start, match.start())
            start = match.end()
        elif (end := _sentence_end(text, start, match)) is not None:
            _add_span(spans, text, start, end)
            start = end
    _add_span(spans, text, start, len(text))
    return spans


def _sentence_end(text: str, start: int, match: re.Match[str]) -> int | None:
    """Where the sentence ends if the punctuation ``match`` ends it (markers after it included), else None."""
    end = match.end()
    if match.group()[0] in ".!?":
        gap = len(text[end:]) - len(text[end:].lstrip())
        following = text[end + gap : end + gap + 1]
        if "\n" not in text[end : end + gap]:
            if following.islower():
                return None
            before = re.search(r"[\w.]+$", text[max(start, match.start() - 20) : match.start()])
            word = before.group().lower().strip(".") if before else ""
            if match.group()[0] == "." and (
                word in _ABBREVIATIONS
                or (word in _NUMBERED_ABBREVIATIONS and following.isdigit())
                or _LIST_ITEM.fullmatch(text[start : match.start()].strip())
            ):
                return None
    markers = _MARKERS_AFTER.match(text, end)
    return markers.end() if markers else end


def _breaks_line(text: str, at: int) -> bool:
    """Whether the line break at ``at`` ends a sentence (see :func:`split_sentences`)."""
    line = text[text.rfind("\n", 0, at) + 1 : at].strip()
    following_end = text.find("\n", at + 1)
    following = text[at + 1 : following_end if following_end >= 0 else len(text)]
    if not line or not following.strip() or line.startswith("#") or _LIST_START.match(following):
        return True
    last, first = line[-1], following.lstrip()[0]
    if last in _LINE_END_PUNCTUATION:
        return True
    if first.islower() or last in _LINE_CONTINUES_AFTER:
        return False
    if _CJK_CHAR.match(last) and (_CJK_CHAR.match(first) or first.isalnum()):
        return False
    if line.rsplit(None, 1)[-1].lower() in _FUNCTION_WORDS:
        return False
    return not (len(line) >= 50 and first.isalnum() and not _LIST_START.match(line))


def _add_span(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        first = start + len(piece) - len(piece.lstrip())
        spans.append((first, first + len(stripped)))


# ------------------------------------------------------------------------------------------------ words


def content_words(text: str) -> set[str]:
    """The words of ``text`` the support check counts: lowercase words that are not stop words and longer than
    two letters, lightly stemmed so inflections meet; numbers, normalised (see the module docstring), in place
    of the digits and number words; and the character bigrams of Chinese, Japanese and Korean text, which has no
    spaces between words."""
    return set(_words(text))


@functools.lru_cache(maxsize=8192)
def _words(text: str) -> frozenset[str]:
    words: set[str] = set()
    for run, is_cjk in lexical_runs(text):
        if is_cjk:
            if len(run) > 1:
                words.update(cjk_bigrams(run))
        elif not (run.isdigit() or run in _NUMBER_WORDS or run in _STOPWORDS or len(run) <= 2):
            unit = _UNITS.get(run) or (_UNITS.get(run[:-1]) if run.endswith("s") else None)
            words.add(f"unit:{unit}" if unit else _stem(run))  # "min", "minute" and "minutes" are one word
    words.update(value for value, _, _ in _numbers(text))
    return frozenset(words)


def _is_consonant(word: str, i: int) -> bool:
    if word[i] in "aeiou":
        return False
    return word[i] != "y" or i == 0 or not _is_consonant(word, i - 1)


def _measure(stem: str) -> int:
    """Porter's m: how many vowel-consonant sequences ``stem`` has."""
    count, vowel_before = 0, False
    for i in range(len(stem)):
        vowel = not _is_consonant(stem, i)
        count += vowel_before and not vowel
        vowel_before = vowel
    return count


def _has_vowel(stem: str) -> bool:
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _ends_cvc(word: str) -> bool:
    return (len(word) >= 3 and _is_consonant(word, len(word) - 3) and not _is_consonant(word, len(word) - 2)
            and _is_consonant(word, len(word) - 1) and word[-1] not in "wxy")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Porter's steps 1 and 5a: the inflections (plural, -ed, -ing, final -y and -e) go, nothing else, so
    "uploads", "uploaded" and "uploading" meet and "battery" meets "batteries", and nothing stronger merges
    words with different meanings. English words only; any other word is kept as it is."""
    if len(word) < 3 or not (word.isascii() and word.isalpha()):
        return word
    if word.endswith("sses") or (word.endswith("ies") and len(word) > 4):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    else:
        for suffix in ("ed", "ing"):
            if word.endswith(suffix) and _has_vowel(word[: -len(suffix)]):
                word = word[: -len(suffix)]
                if word.endswith(("at", "bl", "iz")):
                    word += "e"
                elif len(word) > 1 and word[-1] == word[-2] and word[-1] not in "aeioulsz":
                    word = word[:-1]
                elif _measure(word) == 1 and _ends_cvc(word):
                    word += "e"
                break
    if word.endswith("y") and len(word) > 2 and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    if word.endswith("e") and len(word) > 2:
        measure = _measure(word[:-1])
        if measure > 1 or (measure == 1 and not _ends_cvc(word[:-1])):
            word = word[:-1]
    return word


# ------------------------------------------------------------------------------------------------ numbers

_UNITS_TEXT = (
    "ms:ms,msec,millisecond s:s,sec,second min:min,minute h:h,hr,hour day:day week:week,wk month:month "
    "year:year,yr b:b,byte bit:bit kb:kb,kilobyte kib:kib mb:mb,megabyte mib:mib gb:gb,gigabyte gib:gib "
    "tb:tb,terabyte tib:tib kbps:kbps mbps:mbps gbps:gbps v:v,volt mv:mv kv:kv a:a,amp,ampere ma:ma,milliamp "
    "mah:mah w:w,watt kw:kw kwh:kwh wh:wh hz:hz,hertz khz:khz mhz:mhz ghz:ghz mm:mm,millimetre,millimeter "
    "cm:cm,centimetre,centimeter m:m,metre,meter km:km,kilometre,kilometer in:in,inch,inche ft:ft,foot,feet "
    "mi:mi,mile mg:mg,milligram g:g,gram kg:kg,kilogram lb:lb oz:oz,ounce ml:ml,millilitre,milliliter "
    "l:l,litre,liter °c:°c,celsius °f:°f,fahrenheit °:°,degree %:%,percent px:px,pixel dpi:dpi rpm:rpm fps:fps "
    "mph:mph km/h:km/h,kph"
)
_UNITS = {word: unit for entry in _UNITS_TEXT.split() for unit, words in [entry.split(":")] for word in words.split(",")}
_SPACED_SHORT_UNITS = frozenset(["v", "w", "a", "%"])  # one-letter units read after a space ("5 V"); not "5 s"
_ORDINALS = frozenset(["st", "nd", "rd", "th"])
_COUNTERS = "个個かヶケカヵ"  # counters read with the 月 after them: 三个月, 三か月 (months)
_SMALL_NUMBERS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                  "sixteen seventeen eighteen nineteen")
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
_NUMBER_WORDS = {word: value for value, word in enumerate(_SMALL_NUMBERS.split())} | {
    word: 10 * tens for tens, word in enumerate(_TENS.split(), 2)}
_NUMBER_WORD = re.compile(
    r"\b(?:(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](one|two|three|four|five|six|seven|eight"
    r"|nine)\b)?|(zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
    r"|sixteen|seventeen|eighteen|nineteen))\b"
)
# Digits not glued to a preceding letter ("x2", "utf-8" are names), with a sign after a space ("-10 °C");
# 1,000 with its separators; 2.3.1 whole (versions, addresses).
_DIGITS = re.compile(
    rf"(?<![^\W{_CJK}])(?<!\.)(?<![^\W\d_{_CJK}]-)(?P<sign>[-+](?=\d))?"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?![\d,])|\d+(?:\.\d+)*)"
)
_VERSION_V = re.compile(r"(?<![\w.])v(?=\d)")
_UNIT_AFTER = re.compile(rf"(?P<gap>[ \-]?)(?P<unit>%|°[cf]?|[a-zµ]+(?:/[a-z]+)?|[{_CJK}])")
_CJK_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
               "八": 8, "九": 9}
_CJK_NUMERAL = re.compile("[〇零一二两兩三四五六七八九十百千万萬]+")
# Words written with numeral characters that are no numbers (together, generally, very, the same, …).
_CJK_NOT_NUMBERS = re.compile(
    "一起|一般|一定|一些|一直|一下|一样|一樣|一切|一旦|一致|一边|一邊|一会|一會|一点|一點|统一|統一|万一|唯一|同一"
    "|一緒|一番|一部|一方|一応|一体|一気|逐一|一律|十分(?![钟鐘間间])|千万|不一|一个|一個|一种|一種"
)


@functools.lru_cache(maxsize=8192)
def _numbers(text: str) -> tuple[tuple[str, str, str], ...]:
    """``(value, unit, as written)`` for each number of ``text``: digits, English number words, Chinese and
    Japanese numerals; the unit canonical ("minutes" → "min"), or the CJK character after the number, or ""."""
    text = unicodedata.normalize("NFKC", text).lower().replace("−", "-")
    text = _VERSION_V.sub(" ", re.sub(r"\.{2,}|…|⋯", " - ", text))
    found: list[tuple[str, str, str]] = []
    for match in _DIGITS.finditer(text):
        number = match.group("number")
        value = number.replace(",", "") if "," in number else number
        if "." not in value:
            value = value.lstrip("0") or "0"
        unit = _unit_after(text, match.end())
        if unit is not None:
            found.append(((match.group("sign") or "").replace("+", "") + value, unit[0],
                          f"{match.group()}{unit[1]}".strip()))
    for match in _NUMBER_WORD.finditer(text):
        tens, ones, small = match.groups()
        if small == "one" and not _one_is_a_number(text, match):
            continue
        value = _NUMBER_WORDS[tens] + (_NUMBER_WORDS[ones] if ones else 0) if tens else _NUMBER_WORDS[small]
        unit = _unit_after(text, match.end()) or ("", "")
        found.append((str(value), unit[0], f"{match.group()}{unit[1]}".strip()))
    if _CJK_CHAR.search(text):
        masked = _CJK_NOT_NUMBERS.sub(lambda m: "\0" * len(m.group()), text)
        for match in _CJK_NUMERAL.finditer(masked):
            unit = _unit_after(masked, match.end()) or ("", "")
            found.append((str(_cjk_number(match.group())), unit[0], f"{match.group()}{unit[1]}"))
    return tuple(found)


def _one_is_a_number(text: str, match: re.Match[str]) -> bool:
    """"one battery" counts, "the blue one", "one of them", "no one", "one can" do not."""
    following = re.match(r"\s+([a-z]+)", text[match.end() :])
    preceding = text[: match.start()].rstrip().rsplit(None, 1)
    return (following is not None and following.group(1) not in _STOPWORDS and following.group(1) != "another"
            and not (preceding and preceding[-1] == "no"))


def _unit_after(text: str, end: int) -> tuple[str, str] | None:
    """``(unit, as written)`` right after a number ending at ``end``; ``("", "")`` if none; None when letters
    glued to the number make it part of a name ("2fa", "3d")."""
    match = _UNIT_AFTER.match(text, end)
    if match is None:
        return "", ""
    word, glued = match.group("unit"), not match.group("gap")
    if _CJK_CHAR.match(word):
        if word in _COUNTERS and text[match.end() : match.end() + 1] == "月":
            word += "月"
        return word, match.group("gap") + word
    unit = _unit(word) or (_unit(word.split("/")[0]) if "/" in word else None)
    if unit is not None and (glued or (len(word) > 1 and word != "in") or word in _SPACED_SHORT_UNITS):
        return unit, match.group()
    if glued:
        return ("", "") if word in _ORDINALS else None
    return "", ""


def _unit(word: str) -> str | None:
    return _UNITS.get(word) or (_UNITS.get(word[:-1]) if word.endswith("s") and len(word) > 2 else None)


def _cjk_number(numeral: str) -> int:
    """一百零五 → 105, 十五 → 15, 两 → 2, 二〇二四 → 2024."""
    total, section, digit = 0, 0, None
    for char in numeral:
        if char in _CJK_DIGITS:
            digit = _CJK_DIGITS[char] if digit is None else digit * 10 + _CJK_DIGITS[char]
        elif char in "十百千":
            section += (1 if digit is None else digit) * {"十": 10, "百": 100, "千": 1000}[char]
            digit = None
        else:  # 万 萬
            total += (section + (digit or 0) or 1) * 10_000
            section, digit = 0, None
    return total + section + (digit or 0)


# ------------------------------------------------------------------------------------------------ names

# A token that may be a name, a path or a link: letters and digits of any script but CJK, with the
# punctuation paths, versions, addresses and options are written with.
_TOKEN = re.compile(rf"(?:[^\W{_CJK}]|[.~/\\:@+#=-])+")
_ABBREVIATION_TOKEN = re.compile(r"(?:[a-z]\.)+[a-z]?")
_NUMBERISH = re.compile(r"[-+]?v?\d[\d.,:\-]*([a-z°%µ]*)")
_INNER_PUNCTUATION = re.compile(r"[0-9a-z][._:@=+#][0-9a-z]")
_INITIAL_AFTER = ":;\"“‘'([—–•"


@dataclass(frozen=True)
class _Term:
    kind: str  # "name", "path" or "link"
    shown: str
    key: str  # lowercase, without hyphens
    pattern: re.Pattern[str]
    words: frozenset[str]


def _terms(text: str) -> tuple[_Term, ...]:
    """The names, paths and links of ``text`` (see the module docstring). A capitalised word starting the
    sentence (or following a colon, a quote or a bracket) is no name, unless it is an acronym or has digits."""
    text = unicodedata.normalize("NFKC", text)
    terms: dict[str, _Term] = {}
    for match in _TOKEN.finditer(text):
        token = _trim(match.group())
        if not any(char.isalnum() for char in token):
            continue
        before = text[: match.start()].rstrip(" \t*_")
        initial = not before or before[-1] in _INITIAL_AFTER
        for kind, shown in _classify(token, initial):
            key = shown.lower().replace("-", "")
            if key not in terms:
                pattern = re.compile(rf"(?<![0-9a-z]){re.escape(shown.lower())}(?![0-9a-z]|\.[0-9a-z])")
                terms[key] = _Term(kind, shown, key, pattern, _words(shown))
    return tuple(terms.values())


def _trim(token: str) -> str:
    token = token.rstrip(".:;,=-").lstrip(":;,=")
    return token.lstrip(".") if token.startswith("..") and not token.startswith("../") else token


def _classify(token: str, initial: bool) -> list[tuple[str, str]]:
    if token.isalpha() and token.islower():
        return []  # the common case: a plain word
    low = token.lower()
    if "://" in low:
        return [("link", token.rstrip("/"))]
    if "/" in low or "\\" in low:
        tail = re.split(r"[/\\]", low.rstrip("/"))[-1]
        if (low[0] in "/~." or re.match(r"[a-z]:\\", low) or low.count("/") >= 2
                or re.search(r"[a-z0-9]\.[a-z]", tail)):
            return [("path", token.rstrip("/"))]
        return [term for part in re.split(r"[/\\]", token) if part
                for term in _classify(_trim(part), initial)]
    numberish = _NUMBERISH.fullmatch(low)
    if numberish and (not numberish.group(1) or _unit_after(low, numberish.start(1)) is not None):
        return []  # a number, with its unit: checked as a number
    if _ABBREVIATION_TOKEN.fullmatch(low) or low in _STOPWORDS or low in _NUMBER_WORDS:
        return []
    has_digit, has_letter = any(c.isdigit() for c in low), any(c.isalpha() for c in low)
    if (has_digit and has_letter) or _INNER_PUNCTUATION.search(low) or re.match(r"--?[a-z]", low) \
            or low.endswith(("++", "#")):
        return [("name", token)]
    capitals = sum(c.isupper() for c in token)
    if len(token) >= 2 and token != "I" and (
            capitals >= 2 or (capitals == 1 and not token[0].isupper()) or (token[0].isupper() and not initial)):
        return [("name", token)]
    return []


@functools.lru_cache(maxsize=4096)
def _names(text: str) -> frozenset[str]:
    """Every token and word of a passage text, lowercase and without hyphens: where names are looked up."""
    text = _lowered(text)
    names = {_trim(token).replace("-", "") for token in _TOKEN.findall(text)}
    names.update(re.findall(rf"[^\W{_CJK}]+", text))
    return frozenset(names)


@functools.lru_cache(maxsize=4096)
def _lowered(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


# ------------------------------------------------------------------------------------------------ negation

_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nothing|nobody|nowhere|neither|nor|cannot|without|unable)\b|n['’]t\b"
    r"|[不没沒無无未別别勿]|(?P<after>ない|ません|なし|せず|않|없)"
)
# Words holding a negation character or word that negate nothing: stainless, different, however, wireless,
# the future, free of charge, to identify, special, few, dangerous, "not only", "No. 5".
_NOT_NEGATIONS = re.compile(
    r"\bnot only\b|\bno\.\s*\d|\byes/no\b|\byes or no\b"
    "|不锈|不鏽|不同|不过|不過|不断|不斷|不少|不错|不錯|不仅|不僅|不但|不久|差不多|不得不|无论|無論|未来|未來"
    "|未満|无线|無線|無料|无人机|無人機|少ない|危ない|别的|別的|别人|別人|特别|特別|区别|區別|识别|識別|类别|類別"
    "|级别|級別|性别|性別|告别|告別|差别|個別|个别|別々|別の|別売|別途|分別|别名|別名"
)
# A negation reaches to the end of its clause: at a comma or semicolon, a colon, a dash, a bracket, a table
# cell's bar, or a "but".
_CLAUSE_END = re.compile(
    r"[;:,](?=\s)|[，；：()（）|]|\s[—–-]\s"
    r"|\b(?:but|however|whereas|although|though|unless|except|instead|otherwise)\b|但是|但|可是|却|卻|而是"
)


@functools.lru_cache(maxsize=8192)
def _polarity(text: str) -> tuple[frozenset[str], frozenset[str], tuple[frozenset[str], ...]]:
    """``(plain words, negated words, each negated clause's negated words)`` of ``text``.

    In each clause, a negation covers what follows it (English, Chinese: "does not need calibration",
    不可浸泡), or what precedes it for the endings that come after the verb (使いません, 하지 않다), the cue
    itself included (不可 is a word of the scope). A second negation turns the words after it back to plain
    ("is not never called": "called" is plain). A negation with nothing after it in its clause ("while its
    loss is not") covers what precedes it."""
    low = text.lower()
    masked = _NOT_NEGATIONS.sub(lambda m: " " * len(m.group()), low)
    if _NEGATION.search(masked) is None:
        return _words(text), frozenset(), ()
    plain: list[frozenset[str]] = []
    scopes: list[frozenset[str]] = []
    start = 0
    for end in [m.start() for m in _CLAUSE_END.finditer(masked)] + [len(low)]:
        cues = list(_NEGATION.finditer(masked, start, end))
        if not cues:
            plain.append(_words(low[start:end]))
        elif len({cue.group("after") is None for cue in cues}) > 1:  # cues of both kinds: all of it negated
            scopes.append(_words(low[start:end]))
        else:
            prefix = cues[0].group("after") is None
            cuts = [start, *(cue.start() if prefix else cue.end() for cue in cues), end]
            parts = [_words(low[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
            if not prefix:
                parts.reverse()  # depth counts from the end of the clause
            negated = frozenset().union(*parts[1::2])
            if prefix and not parts[-1] and len(cues) == 1:  # "… is not." negates what came before
                negated, parts[0] = parts[0] | parts[1], frozenset()
            plain.extend(parts[0::2])
            if negated:
                scopes.append(negated)
        start = end
    return frozenset().union(*plain), frozenset().union(*scopes), tuple(scopes)


# ------------------------------------------------------------------------------------------------ analysis

_LEADING = re.compile(
    r"\s*(?:"
    r"(?:[-*•·‣◦+>]|#{1,6}|\(?\d{1,3}[.)]|\(?[a-z][.)]|\(?[ivx]{1,4}[.)])(?=\s|$)"
    r"|(?:short answer|final answer|answer|a|note|tip|summary|in short|response|result|step\s*\d+"
    r"|important|warning|caution|答案|回答|答え|答|注意|注|답|참고)\s*[:：]"
    r"|(?:yes|no|yeah|yep|nope|sure|correct|indeed)\s*[,!—–]"
    r"|(?:是的|不是|不|没有|沒有|是|对|對|はい|いいえ|ええ|네|아니요|아니오)\s*[，,、！!]"
    r")\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Claim:
    """What an answer sentence states, to be found in a passage."""

    words: frozenset[str]
    numbers: tuple[tuple[str, str, str], ...]
    terms: tuple[_Term, ...]
    plain: frozenset[str]
    scopes: tuple[frozenset[str], ...]  # the words of each negated clause


@dataclass(frozen=True, eq=False)
class _Sentence:
    """What a passage sentence holds; its names and negations are read when a claim needs them."""

    text: str
    words: frozenset[str]
    numbers: Mapping[str, frozenset[str]]  # value → units ("" for none)


@dataclass(frozen=True, eq=False)
class _Passage:
    text: str
    sentences: tuple[_Sentence, ...]
    windows: tuple[tuple[int, int, frozenset[str]], ...]  # (first, after last, their words), shortest first
    numbers: frozenset[str]


def _clean(text: str) -> str:
    """Text without Markdown emphasis and code quotes, so "`apt-get`" and "**not**" read as the words."""
    return text.replace("**", "").replace("`", "")


def _statement(sentence: str) -> str:
    """The sentence without its ``[n]`` markers, emphasis, list marker, "Answer:" label or "Yes,"."""
    text = _clean(_MARKER_TO_DROP.sub("", sentence))
    while (match := _LEADING.match(text)) is not None and match.end() > 0:
        text = text[match.end() :]
    return text.strip()


@functools.lru_cache(maxsize=4096)
def _claim(sentence: str) -> _Claim | None:
    """The claim of an answer sentence; None for a fragment (fewer than two content words)."""
    text = _statement(sentence)
    words = _words(text)
    if len(words) < _MIN_CLAIM_WORDS:
        return None
    numbers = tuple(dict.fromkeys((value, unit, shown) for value, unit, shown in _numbers(text)))
    plain, _, scopes = _polarity(text)
    return _Claim(words, numbers, _terms(text), plain, scopes)


def _sentence(text: str) -> _Sentence:
    numbers: dict[str, set[str]] = {}
    for value, unit, _ in _numbers(text):
        numbers.setdefault(value, set()).add(unit)
    return _Sentence(text, _words(text), {value: frozenset(units) for value, units in numbers.items()})


@functools.lru_cache(maxsize=512)
def _passage(text: str) -> _Passage:
    sentences = tuple(_sentence(_clean(text[start:end])) for start, end in split_sentences(text))
    windows = tuple(
        (first, first + size, frozenset().union(*(s.words for s in sentences[first : first + size])))
        for size in range(1, _WINDOW + 1)
        for first in range(len(sentences) - size + 1)
    )
    return _Passage(_clean(text), sentences, windows, frozenset(value for s in sentences for value in s.numbers))


# ------------------------------------------------------------------------------------------------ the check


@dataclass(frozen=True)
class _Miss:
    """Why a window does not support a claim."""

    kind: str  # "words", "number", "unit", "name", "path", "link" or "negation"
    value: str = ""
    near: bool = False  # the number or name is in the passage, but not with the claim's other words
    other: str = ""  # unit: what the passage has
    shared: int = 0
    total: int = 0
    few: bool = False  # words: the share was enough, the count (_MIN_SHARED_WORDS) was not
    term: _Term | None = None


@dataclass(frozen=True)
class _Verdict:
    supported: bool
    coverage: float
    miss: _Miss | None


def _judge(claim: _Claim, passage: _Passage, min_support: float) -> _Verdict:
    """Whether some window of ``passage`` supports ``claim``; else why not, in the window holding most of its
    words (the shortest such)."""
    total = len(claim.words)
    needed = min(_MIN_SHARED_WORDS, total)
    supported_coverage: float | None = None
    best_shared, best_miss = 0, None  # the failing window with most of the claim's words, and its miss
    for first, after, words in passage.windows:
        shared = len(claim.words & words)
        if supported_coverage is not None and shared / total <= supported_coverage:
            continue
        if best_miss is not None and shared <= best_shared and (shared < needed or shared / total < min_support):
            continue
        if shared < needed or shared / total < min_support:
            # A window close to the claim says why more precisely when a number, a name or the negation is what
            # it lacks ("number 2.3 not in the passage" rather than "only 3 of its 4 words").
            specific = _mismatch(claim, passage.sentences[first:after], passage) if shared >= needed else None
            miss: _Miss | None = specific or _Miss("words", shared=shared, total=total, few=shared / total >= min_support)
        elif (miss := _mismatch(claim, passage.sentences[first:after], passage)) is None:
            supported_coverage = shared / total
            continue
        if best_miss is None or shared > best_shared:
            best_shared, best_miss = shared, miss
    if supported_coverage is not None:
        return _Verdict(True, supported_coverage, None)
    return _Verdict(False, best_shared / total, best_miss or _Miss("words", shared=0, total=total))


def _mismatch(claim: _Claim, window: Sequence[_Sentence], passage: _Passage) -> _Miss | None:
    """The first fact of ``claim`` the window lacks or contradicts: a number, its unit, a name, a path, or the
    negation; None when it holds them all."""
    for value, unit, shown in claim.numbers:
        holders = [s for s in window if value in s.numbers]
        if not holders or not _anchored(claim, holders, window, frozenset({value})):
            return _Miss("number", value, near=value in passage.numbers)
        units = frozenset().union(*(s.numbers[value] for s in holders)) - {""}
        if unit and units and unit not in units:
            other = sorted(units)[0]
            return _Miss("unit", shown, other=value + ("" if _CJK_CHAR.match(other) else " ") + other)
    for term in claim.terms:
        holders = [s for s in window if _holds(s.text, term)]
        if not holders or not _anchored(claim, holders, window, term.words):
            return _Miss(term.kind, term.shown, near=_holds(passage.text, term), term=term)
    if _negation_differs(claim, window):
        return _Miss("negation")
    return None


def _holds(text: str, term: _Term) -> bool:
    return term.key in _names(text) or term.pattern.search(_lowered(text)) is not None


def _anchored(claim: _Claim, holders: Sequence[_Sentence], window: Sequence[_Sentence],
              own: frozenset[str]) -> bool:
    """In a window of several sentences, a number or name counts only in a sentence that also holds another of
    the claim's words that the other sentences lack: the sentence it is said in, not a neighbour that repeats
    "listens on port" about something else."""
    if len(window) == 1:
        return True
    rest = claim.words - own
    for holder in holders:
        others = frozenset().union(*(s.words for s in window if s is not holder))
        if (rest & holder.words) - others:
            return True
    return False


def _negation_differs(claim: _Claim, window: Sequence[_Sentence]) -> bool:
    """Whether a window sentence negates a word the claim states, or states more of the words of one of the
    claim's negations than it negates (a negation may reach an object the passage names in another clause: "do
    not mix apt with dpkg" against "use apt, but do not mix it with dpkg"), or a negation of the claim is over
    words no window sentence negates. Words a sentence has both ways count for neither side."""
    negated_anywhere: frozenset[str] = frozenset()
    for sentence in window:
        plain, negated, _ = _polarity(sentence.text)
        only_plain, only_negated = plain - negated, negated - plain
        if claim.plain & only_negated or any(
                len(scope & only_plain) > len(scope & only_negated) for scope in claim.scopes):
            return True
        negated_anywhere |= negated
    return any(not scope & negated_anywhere for scope in claim.scopes)


# ------------------------------------------------------------------------------------------------ public


@dataclass(frozen=True)
class Support:
    """Whether a passage says what a sentence says (see the module docstring).

    ``coverage`` is the share of the sentence's content words in the best window of the passage; ``reason``
    says why the passage does not support the sentence (None when it does)."""

    supported: bool
    coverage: float
    reason: str | None


def support(sentence: str, passage: str, min_support: float = MIN_SUPPORT) -> Support:
    """Whether ``passage`` supports ``sentence`` (``[n]`` markers, list markers and "Answer:" are ignored).

    >>> support("The API listens on port 8080.", "The API listens on port 8000.").reason
    'number 8080 not in the passage'
    """
    claim = _claim(sentence)
    if claim is None:
        return Support(False, 0.0, "not a statement: fewer than two content words")
    verdict = _judge(claim, _passage(passage), min_support)
    reason = None if verdict.supported or verdict.miss is None else _reason(verdict.miss, "the passage")
    return Support(verdict.supported, round(verdict.coverage, 3), reason)


class Citation(TypedDict):
    """One sentence of the answer and the passages it rests on.

    ``ids``: the passages that support it; ``cited``: the known passage numbers the model wrote after it;
    ``origin``: "model" (it has markers), "matched" (no markers, a passage supports it), "unsupported", or
    "quoted" (an extractive answer's sentence, the passage's own words: :mod:`rag_app.chain` sets it);
    ``support``: the share of its content words in the best-matching passage; ``reason``: why it is not
    supported, else None."""

    sentence: str
    start: int
    end: int
    ids: list[int]
    origin: Literal["model", "matched", "unsupported", "quoted"]
    support: float | None
    supported: bool
    cited: list[int]
    reason: str | None


class CitationReport(TypedDict):
    citations: list[Citation]
    unknown: list[int]


def cite(answer: str, sources: Sequence[dict[str, Any]], min_support: float = MIN_SUPPORT) -> CitationReport:
    """Citations for each sentence of ``answer``, given the sources (``{"id", "text", ...}``) the model saw."""
    passages = {int(source["id"]): _passage(str(source["text"])) for source in sources}
    citations: list[Citation] = []
    unknown: set[int] = set()
    for start, end in split_sentences(answer):
        sentence = answer[start:end]
        numbers = [int(n) for group in _MARKER.findall(sentence) for n in re.split(r"\s*,\s*", group)]
        unknown.update(n for n in numbers if n not in passages)
        cited = sorted({n for n in numbers if n in passages})
        claim = _claim(sentence)
        if claim is None:
            continue
        verdicts = {number: _judge(claim, passage, min_support) for number, passage in passages.items()}
        ids = [n for n in cited if verdicts[n].supported] or [n for n in sorted(verdicts) if verdicts[n].supported]
        reason = None
        if ids:
            coverage = max(verdicts[n].coverage for n in ids)
        elif verdicts:
            pool = cited or sorted(verdicts)
            best = max(pool, key=lambda n: (verdicts[n].coverage, -n))
            coverage, miss = verdicts[best].coverage, verdicts[best].miss
            reason = _reason(miss, _where(miss, best, bool(cited), passages)) if miss else None
        else:
            coverage, reason = 0.0, "no passages were given"
        origin: Literal["model", "matched", "unsupported"] = (
            "model" if numbers else "matched" if ids else "unsupported")
        citations.append(Citation(sentence=sentence, start=start, end=end, ids=ids, origin=origin,
                                  support=round(coverage, 3), supported=bool(ids), cited=cited, reason=reason))
    return CitationReport(citations=citations, unknown=sorted(unknown))


def _where(miss: _Miss, best: int, cited: bool, passages: Mapping[int, _Passage]) -> str:
    """How a reason names the passage it was judged against: "any passage" when no passage has what is missing."""
    if miss.kind == "words" and not cited:
        return "any passage"
    if miss.kind == "number" and not any(miss.value in p.numbers for p in passages.values()):
        return "any passage"
    if miss.term is not None and not any(_holds(p.text, miss.term) for p in passages.values()):
        return "any passage"
    return f"passage [{best}]"


def _reason(miss: _Miss, where: str) -> str:
    if miss.kind == "words":
        if miss.shared == 0:
            return f"none of its words in {where}"
        if miss.few:
            return f"only {miss.shared} of its {miss.total} words in {where}"
        return f"only {round(100 * miss.shared / miss.total)} % of its words in {where}"
    if miss.kind == "negation":
        return f"negation differs from {where}"
    if miss.kind == "unit":
        return f"{miss.value} not in {where} (it has {miss.other})"
    if miss.near and where != "any passage":
        return f"{miss.kind} {miss.value} not with the rest of the sentence in {where}"
    return f"{miss.kind} {miss.value} not in {where}"


def citations_line(citations: Sequence[Citation], unknown: Sequence[int] = ()) -> str:
    """One line to print under an answer: which passages back each sentence, and which cited numbers are bogus.

    ``citations by sentence: 1 → [1] · 2 → [2] (matched, 83 % of its words) · 3 → not supported: number 65533
    not in any passage``. A model-cited sentence that another passage supports shows that one and what it
    cited: ``4 → [2] (cited [1])``. Citations made before the support check (no ``supported``) count as
    supported when they have passages.
    """
    if not citations:
        return ""
    parts = []
    for number, citation in enumerate(citations, start=1):
        supported = citation.get("supported")
        if not (bool(citation["ids"]) if supported is None else supported):
            reason = citation.get("reason")
            parts.append(f"{number} → not supported" + (f": {reason}" if reason else ""))
            continue
        marks = "".join(f"[{i}]" for i in citation["ids"])
        cited = citation.get("cited") or []
        if citation["origin"] == "matched":
            marks += f" (matched, {round(100 * (citation['support'] or 0))} % of its words)"
        elif cited and set(cited) != set(citation["ids"]):
            marks += " (cited " + "".join(f"[{i}]" for i in cited) + ")"
        parts.append(f"{number} → {marks}")
    line = "citations by sentence: " + " · ".join(parts)
    if unknown:
        line += " · cited but never given to the model: " + "".join(f"[{i}]" for i in unknown)
    return line
