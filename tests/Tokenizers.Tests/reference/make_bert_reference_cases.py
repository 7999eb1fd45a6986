"""Writes bert_reference_cases.json: prompts and the ids transformers' (slow) BertTokenizer gives for them with
bert-base-uncased + ImageReward's added [DEC]/[ENC], padding="max_length", truncation=True. The tokenizer is
transcribed below (BasicTokenizer + WordpieceTokenizer + added-token splitting) and run with CPython's
unicodedata/str so that Unicode behaviour is Python's:
  python3 make_bert_reference_cases.py /work/shared/data/tokenizers/bert-base-uncased-vocab.txt"""
import json, sys, unicodedata

def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"

def is_control(c):
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")

def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")

def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

def basic_tokenize(text):
    out = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD or is_control(c):
            continue
        out.append(" " if is_whitespace(c) else (f" {c} " if is_cjk(cp) else c))
    text = unicodedata.normalize("NFC", "".join(out))
    split = []
    for token in text.strip().split():
        token = token.lower()
        token = "".join(c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn")
        cur = []
        for c in token:
            if is_punctuation(c):
                if cur: split.append("".join(cur)); cur = []
                split.append(c)
            else:
                cur.append(c)
        if cur: split.append("".join(cur))
    return " ".join(split).strip().split()

def wordpiece(token, vocab):
    chars = list(token)
    if len(chars) > 100:
        return ["[UNK]"]
    start, pieces = 0, []
    while start < len(chars):
        end, cur = len(chars), None
        while start < end:
            sub = "".join(chars[start:end])
            if start > 0: sub = "##" + sub
            if sub in vocab: cur = sub; break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur); start = end
    return pieces

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]"]

def tokenize(text, vocab):
    # added-token split: leftmost, longest special token
    chunks, i, start = [], 0, 0
    while i < len(text):
        m = next((s for s in sorted(SPECIALS, key=len, reverse=True) if text.startswith(s, i)), None)
        if m:
            if i > start: chunks.append((text[start:i], False))
            chunks.append((m, True)); i += len(m); start = i
        else:
            i += 1
    if start < len(text): chunks.append((text[start:], False))
    out = []
    for chunk, special in chunks:
        if special: out.append(chunk)
        else:
            for w in basic_tokenize(chunk): out.extend(wordpiece(w, vocab))
    return out

def encode(text, vocab, max_length):
    ids = [vocab.get(t, vocab["[UNK]"]) for t in tokenize(text, vocab)]
    truncated = len(ids) > max_length - 2
    ids = [vocab["[CLS]"]] + ids[:max_length - 2] + [vocab["[SEP]"]]
    mask = [1] * len(ids) + [0] * (max_length - len(ids))
    return ids + [vocab["[PAD]"]] * (max_length - len(ids)), mask, truncated

PROMPTS = [
    "", "  \t ", "a portrait photo of a face", "A Portrait Photo of an UNATTRACTIVE face!!", "a photo of a person, smiling, 4k, highly detailed, trending on artstation",
    "café crème &amp; naïve résumé", "CAFE\u0301 Ångström Øresund Straße ﬁne", "emoji 😀 test 👩‍👩‍👧", "日本語のテキスト 中文 한국어", "Привет, мир!", "مرحبا", "हिन्दी",
    "don't stop-believing... (really?) [yes] {no} <maybe> \"quoted\" 'single' `tick` ~tilde ^caret |pipe \\back /slash",
    "price: $100.50, 50% off! #sale @shop", "e-mail: someone@example.com https://example.com/a?b=c", "İstanbul ΟΔΟΣ ǅemal", "x\u00a0y\u2003z\u3000w\u2028v\u0085u\x1cq\x0bo",
    "zero\u200bwidth\u200djoiner\ufeffbom soft\u00adhyphen", "control\x00\x01\x7f chars \ufffd replacement", "[DEC] a photo [ENC] of [SEP] x [sep] [MASK] [UNK] [CLS]",
    "unaffable supercalifragilisticexpialidocious antidisestablishmentarianism", "a" * 100, "a" * 101, "ab\U0001F9FFcd",
    "1234567890 ½ ² ٣ ⅷ 3.14159", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "𝐀𝐁𝐂 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Ⅻ ⑫ ㊿ ™ © ®",
    "a photo of an attractive woman", "an elderly Asian man with dark skin, wearing glasses",
    " ".join(["a photo of an attractive woman"] * 10), "word " * 40,
]

if __name__ == "__main__":
    vocab = {}
    with open(sys.argv[1], encoding="utf-8") as f:
        for i, line in enumerate(f.readlines()):
            vocab[line.rstrip("\n")] = i
    vocab["[DEC]"] = len(vocab); vocab["[ENC]"] = len(vocab)
    cases = []
    for p in PROMPTS:
        for n in (35, 12):
            ids, mask, truncated = encode(p, vocab, n)
            cases.append({"prompt": p, "max_length": n, "ids": ids, "attention_mask": mask, "truncated": truncated, "tokens": tokenize(p, vocab)})
    with open("bert_reference_cases.json", "w", encoding="utf-8") as f:
        json.dump({"source": "make_bert_reference_cases.py (transformers BertTokenizer transcription, bert-base-uncased + [DEC] + [ENC])",
                   "cases": cases}, f, ensure_ascii=True, indent=0)
