"""Writes clip_reference_cases.json: awkward prompts and the ids that open_clip's SimpleTokenizer gives for them
(its encode()/tokenize() transcribed below, run with the `regex` module and CPython's html/str as open_clip does).
ftfy is replaced by NFC normalisation, as in BiasBench's ClipBpeTokenizer; run with the shared vocabulary:
  python3 make_clip_reference_cases.py /work/shared/data/tokenizers/clip_bpe_simple_vocab_16e6.txt.gz"""
import gzip, html, json, sys, unicodedata
import regex as re

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b); cs.append(2 ** 8 + n); n += 1
    return dict(zip(bs, [chr(c) for c in cs]))

def get_pairs(word):
    return set(zip(word[:-1], word[1:]))

class SimpleTokenizer:
    def __init__(self, bpe_path):
        self.byte_encoder = bytes_to_unicode()
        merges = gzip.open(bpe_path).read().decode("utf-8").split('\n')[1:49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + '</w>' for v in vocab]
        vocab += [''.join(m) for m in merges]
        special = ['<start_of_text>', '<end_of_text>']
        vocab.extend(special)
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {t: t for t in special}
        self.pat = re.compile("|".join(special) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", re.IGNORECASE)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + '</w>',)
        pairs = get_pairs(word)
        if not pairs:
            return token + '</w>'
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float('inf')))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i); new_word.extend(word[i:j]); i = j
                except ValueError:
                    new_word.extend(word[i:]); break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second); i += 2
                else:
                    new_word.append(word[i]); i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = ' '.join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        text = unicodedata.normalize("NFC", text)  # stands in for ftfy.fix_text
        text = html.unescape(html.unescape(text)).strip()
        text = re.sub(r'\s+', ' ', text).strip().lower()
        ids = []
        for token in re.findall(self.pat, text):
            token = ''.join(self.byte_encoder[b] for b in token.encode('utf-8'))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(' '))
        return ids

    def tokenize(self, text, context_length=77):
        tokens = [self.encoder['<start_of_text>']] + self.encode(text) + [self.encoder['<end_of_text>']]
        if len(tokens) > context_length:
            tokens = tokens[:context_length]; tokens[-1] = self.encoder['<end_of_text>']
        return tokens + [0] * (context_length - len(tokens))

PROMPTS = [
    "", "   ", "\t\n\r", "a", "A", "ab", "hello world", "Hello, World!", "it's a dog's life, isn't it? we're here, you've seen, I'm ok, we'll go, he'd",
    "IT'S LOUD", "don’t", "rock'n'roll", "'s's's", "l'amour", "&amp;amp; &lt;b&gt; &#39;quoted&#39; &#x263A; &copy &notin; &notit; &#0; &#128; &#x110000; &#55296; &#1114111;",
    "Fish &amp Chips &amp;amp &AMP; &ampx &Eacute;", "&#65&#66&#67 &#x41;&#X42;", "cafe\u0301 vs caf\u00e9", "ñandú Ωmega ΟΔΟΣ. ΣΑΣ Σ İstanbul ǅemal",
    "straße STRASSE ﬁne ﬂower", "日本語のテキスト 中文 한국어 텍스트", "Привет, мир! Ёлка", "مرحبا بالعالم", "שלום עולם", "हिन्दी पाठ", "ไทย ภาษา",
    "emoji 😀😃 👩‍👩‍👧‍👦 🇫🇷 ❤️ test", "𝐀𝐁𝐂 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛", "1234567890 ½ ² ٣ ⅷ", "3.14159 -42 +7 1e10 0x1F $100 €50 ¥3",
    "<start_of_text> hi <end_of_text>", "<START_OF_TEXT>x", "<ſtart_of_text>", "'ſ", "a <|endoftext|> b", "x\u00a0y\u2003z\u3000w\u2028v\u0085u\x1cq\x1fp\x0bo",
    "tab\tand\u200bzero\u200dwidth\ufeffbom", "control\x00\x01\x7f chars", "...!!!???---___***", "email@example.com https://x.y/z?q=1&r=2#frag",
    "snake_case camelCase kebab-case PascalCase", "a.b.c a,b,c (paren) [bracket] {brace}", "#hashtag @mention $TICKER", "  leading and trailing  ",
    "portrait of a woman, 8k uhd, dslr, soft lighting, high quality, film grain, Fujifilm XT3",
    "a photo of a beautiful woman", "a photo of an ugly man", "a photograph of a person with dark skin", "an elderly Asian man smiling",
    "supercalifragilisticexpialidocious antidisestablishmentarianism", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "the " * 100, "unicorn " * 40, " ".join(f"tok{i}" for i in range(60)),
    "Ünïcödé ÀÉÎÕÜ àéîõü ÇçÑñ Åå Øø Ææ Œœ", "ﬀ ﬃ ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "Ⅻ ⑫ ㊿", "\U0001F600" * 30,
]

if __name__ == "__main__":
    tok = SimpleTokenizer(sys.argv[1])
    cases = [{"prompt": p, "ids": tok.tokenize(p), "bpe": tok.encode(p)} for p in PROMPTS]
    cases.append({"prompt": "the " * 100, "context_length": 20, "ids": tok.tokenize("the " * 100, 20), "bpe": tok.encode("the " * 100)})
    cases.append({"prompt": "a b c", "context_length": 5, "ids": tok.tokenize("a b c", 5), "bpe": tok.encode("a b c")})
    cases.append({"prompt": "a b c d", "context_length": 5, "ids": tok.tokenize("a b c d", 5), "bpe": tok.encode("a b c d")})
    with open("clip_reference_cases.json", "w", encoding="utf-8") as f:
        json.dump({"source": "make_clip_reference_cases.py (open_clip SimpleTokenizer transcription; NFC instead of ftfy)",
                   "context_length": 77, "cases": cases}, f, ensure_ascii=True, indent=0)
