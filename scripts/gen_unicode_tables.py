#!/usr/bin/env python3
"""Generates src/model/unicode_tables.inc: the Unicode properties the BERT tokenizer and the SQuAD
answer normalisation need, from Python's unicodedata (so the Unicode version is Python's).

    python3 scripts/gen_unicode_tables.py            # rewrites src/model/unicode_tables.inc
    python3 scripts/gen_unicode_tables.py --check    # exits 1 when the checked-in file is stale

Tables (all sorted by code point, searched with binary search):
  kFlagRanges   [lo, hi, flags]: runs of code points with the same property bits (see kFlag*).
  kLowerRanges  [lo, hi, delta, step]: lower(c) = c + delta for c in lo..hi with (c - lo) % step == 0
                (single-code-point simple mappings; the few one-to-many mappings are in kLowerSpecial).
  kCccRanges    [lo, hi, ccc]: canonical combining class, for canonical ordering in NFD.
  kDecompKeys / kDecompData: the full canonical decomposition (NFD) of each code
                point that has one, except Hangul syllables (decomposed arithmetically in C++).
"""
import os
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "model", "unicode_tables.inc")

FLAG_OTHER = 1        # Cc Cf Co Cs, dropped by BERT's clean_text. Unassigned code points (Cn)
                      # are kept, as HF tokenizers does (checked by a sweep over all code points).
FLAG_MN = 2           # Mn, nonspacing mark: dropped by accent stripping after NFD
FLAG_PUNCT = 4        # P* or ASCII punctuation: split off by BERT's pre-tokenizer
FLAG_WHITE_SPACE = 8  # the White_Space property (Rust char::is_whitespace)
FLAG_PY_SPACE = 16    # Python str.isspace (str.split in the SQuAD metric)
FLAG_PY_WORD = 32     # Python re \w: str.isalnum() or '_' (\b in the SQuAD metric)
# Python's str.lower maps capital sigma to final sigma when a cased letter precedes it and none
# follows, skipping case-ignorable characters both ways. unicodedata exposes neither property, so
# both are read off str.lower itself.
FLAG_PY_CASED = 64    # cased and not case-ignorable
FLAG_PY_CASE_IGNORABLE = 128

# PropList.txt White_Space; unicodedata does not expose it, and it has not changed since 6.3.
WHITE_SPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
               (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
               (0x3000, 0x3000)]
ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
MAX_CP = 0x110000


def flags_of(cp):
    ch = chr(cp)
    cat = unicodedata.category(ch)
    f = 0
    if cat in ("Cc", "Cf", "Co", "Cs"):
        f |= FLAG_OTHER
    if cat == "Mn":
        f |= FLAG_MN
    if cat[0] == "P" or ch in ASCII_PUNCT:
        f |= FLAG_PUNCT
    if any(lo <= cp <= hi for lo, hi in WHITE_SPACE):
        f |= FLAG_WHITE_SPACE
    if ch.isspace():
        f |= FLAG_PY_SPACE
    if ch.isalnum() or ch == "_":
        f |= FLAG_PY_WORD
    if 0xD800 <= cp <= 0xDFFF:
        return f
    cased = (ch + "\u03a3").lower()[-1] == "\u03c2"
    if cased:
        f |= FLAG_PY_CASED
    elif ("A" + ch + "\u03a3").lower()[-1] == "\u03c2":
        f |= FLAG_PY_CASE_IGNORABLE
    return f


def runs(values):
    """[(lo, hi, v)] for maximal runs of equal nonzero v over code points."""
    out = []
    for cp in range(MAX_CP):
        v = values(cp)
        if not v:
            continue
        if out and out[-1][1] == cp - 1 and out[-1][2] == v:
            out[-1][1] = cp
        else:
            out.append([cp, cp, v])
    return out


def lower_tables():
    simple, special = [], []
    for cp in range(MAX_CP):
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        if len(low) == 1:
            simple.append((cp, ord(low) - cp))
        else:
            special.append((cp, [ord(c) for c in low]))
    ranges = []  # [lo, hi, delta, step]
    for cp, delta in simple:
        if ranges:
            r = ranges[-1]
            step = r[3] if r[1] != r[0] else cp - r[1]
            if r[2] == delta and step in (1, 2) and cp - r[1] == step:
                r[1], r[3] = cp, step
                continue
        ranges.append([cp, cp, delta, 1])
    return ranges, special


def decompositions():
    keys, data = [], []
    for cp in range(MAX_CP):
        if 0xAC00 <= cp <= 0xD7A3:
            continue
        d = unicodedata.normalize("NFD", chr(cp))
        if d != chr(cp):
            keys.append((cp, len(data), len(d)))
            data.extend(ord(c) for c in d)
    return keys, data


def wrap(items, per_line):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("    " + " ".join(items[i:i + per_line]))
    return "\n".join(lines)


def generate():
    flag_ranges = runs(flags_of)
    lower_ranges, lower_special = lower_tables()
    ccc_ranges = runs(lambda cp: unicodedata.combining(chr(cp)))
    keys, data = decompositions()
    assert max(n for _, _, n in keys) <= 15 and len(data) < (1 << 16)
    out = []
    out.append("// Generated by scripts/gen_unicode_tables.py from Unicode %s (Python %d.%d "
               "unicodedata). Do not edit." % (unicodedata.unidata_version, *sys.version_info[:2]))
    out.append("// clang-format off")
    out.append('constexpr const char* kUnicodeVersion = "%s";' % unicodedata.unidata_version)
    out.append("constexpr uint8_t kFlagOther = %d, kFlagMn = %d, kFlagPunct = %d, kFlagWhiteSpace = %d,"
               % (FLAG_OTHER, FLAG_MN, FLAG_PUNCT, FLAG_WHITE_SPACE))
    out.append("    kFlagPySpace = %d, kFlagPyWord = %d, kFlagPyCased = %d, kFlagPyCaseIgnorable = %d;"
               % (FLAG_PY_SPACE, FLAG_PY_WORD, FLAG_PY_CASED, FLAG_PY_CASE_IGNORABLE))
    out.append("constexpr FlagRange kFlagRanges[] = {")
    out.append(wrap(["{0x%X,0x%X,%d}," % tuple(r) for r in flag_ranges], 6))
    out.append("};")
    out.append("constexpr LowerRange kLowerRanges[] = {")
    out.append(wrap(["{0x%X,0x%X,%d,%d}," % tuple(r) for r in lower_ranges], 6))
    out.append("};")
    out.append("constexpr LowerSpecial kLowerSpecial[] = {")
    for cp, seq in lower_special:
        out.append("    {0x%X, {%s}, %d}," % (cp, ", ".join("0x%X" % c for c in seq), len(seq)))
    out.append("};")
    out.append("constexpr CccRange kCccRanges[] = {")
    out.append(wrap(["{0x%X,0x%X,%d}," % tuple(r) for r in ccc_ranges], 6))
    out.append("};")
    # Entry: code point << 4 | length of its decomposition; the decompositions follow each other
    # in kDecompData in the same order.
    out.append("constexpr uint32_t kDecompKeys[] = {")
    out.append(wrap(["0x%X," % (k << 4 | n) for k, _, n in keys], 10))
    out.append("};")
    out.append("constexpr uint32_t kDecompData[] = {")
    out.append(wrap(["0x%X," % c for c in data], 12))
    out.append("};")
    out.append("// clang-format on")
    return "\n".join(out) + "\n"


def main():
    text = generate()
    if "--check" in sys.argv:
        with open(OUT) as f:
            if f.read() != text:
                print("%s is stale: run scripts/gen_unicode_tables.py" % OUT)
                return 1
        print("%s is up to date" % OUT)
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (OUT, len(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
