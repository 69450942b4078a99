#!/usr/bin/env python3
"""Builds mmd's test tokenizers with Hugging Face `tokenizers` and records the expected ids and
decoded text for the tokenizer corpus.

Writes into tests/fixtures/text/:
  minimax_test.tokenizer.json   byte-level BPE, MiniMax split regex (spec §4.2), the 54 MiniMax added
                                tokens at their spec ids 200000-200053 (spec §4.3)
  gpt2_test.tokenizer.json      GPT-2-style byte-level BPE (ByteLevel pre-tokenizer with its regex)
  nfkc_test.tokenizer.json      the MiniMax regex behind an NFKC normalizer
  tokenizer_corpus.json         the corpus (valid UTF-8 strings + invalid UTF-8 byte strings in hex)
  tokenizer_expected.json       per tokenizer and corpus entry: ids, decode(skip=False), decode(skip=True)
"""
import json
import pathlib
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import corpus_texts  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "text"

MINIMAX_REGEX = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Spec §4.3: ids 200000-200053 in order.
MINIMAX_ADDED = (
    ["]!p~[", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"]
    + ["<reponame>", "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>",
       "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<empty_output>",
       "<commit_before>", "<commit_msg>", "<commit_after>"]
    + ["]~b]", "[e~[", "]!d~[", "<function_call>", "<code_interpreter>"]
    + ["]<]speech[>[", "]<]image[>[", "]<]video[>[", "]<]start of speech[>[", "]<]end of speech[>[",
       "]<]start of image[>[", "]<]end of image[>[", "]<]start of video[>[", "]<]end of video[>[",
       "]<]vision pad[>["]
    + ["]~!b["]
    + ["<jupyter_error>", "<add_file>", "<delete_file>", "<rename_file>", "<edit_file>", "<commit_message>",
       "<empty_source_file>", "<repo_struct>", "<code_context>", "<file_content>", "<source_files>",
       "<pr_start>", "<review_comment>", "<filepath>", "<file_sep>"]
    + ["<think>", "</think>", "<minimax:tool_call>", "</minimax:tool_call>"]
)
assert len(MINIMAX_ADDED) == 54
# Spec §4.3 leaves the "special" flag of 200050-200053 open; the test tokenizer marks them non-special
# (so skip_special_tokens keeps them, as vLLM's parsers need) to exercise both kinds.
NON_SPECIAL = {"<think>", "</think>", "<minimax:tool_call>", "</minimax:tool_call>"}


def corpus_strings():
    texts = []
    for lang, items in corpus_texts.LANGUAGES.items():
        texts += items
    return texts + corpus_texts.CODE + corpus_texts.EMOJI + corpus_texts.WHITESPACE + corpus_texts.SPECIAL


def training_text():
    # Repeat the corpus so frequent pairs from every script reach the vocabulary.
    return corpus_strings() * 3


def train(pre_tokenizer, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(training_text(), trainer)
    return tok


def minimax_tokenizer():
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(MINIMAX_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok = train(pre, 3000)
    data = json.loads(tok.to_str())
    # Place the added tokens at their spec ids: put them in the model vocab at 200000+ so that
    # tokenizers keeps those ids when it loads the file (it reuses a model id for an added token).
    vocab = data["model"]["vocab"]
    added = []
    for i, text in enumerate(MINIMAX_ADDED):
        vocab[text] = 200000 + i
        added.append({"id": 200000 + i, "content": text, "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": text not in NON_SPECIAL})
    data["added_tokens"] = added
    data["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                              "use_regex": False}
    text = json.dumps(data, ensure_ascii=False, indent=1)
    tok = Tokenizer.from_str(text)
    for i, t in enumerate(MINIMAX_ADDED):
        assert tok.token_to_id(t) == 200000 + i, (t, tok.token_to_id(t))
    return tok, text


def nfkc_tokenizer():
    """MiniMax split regex behind an NFKC normalizer (Sequence[NFKC]), with added tokens in both
    passes: `[e~[` (special, matched on raw text) and `<think>`/`</think>` (normalized=true,
    matched on the normalized text)."""
    from tokenizers import normalizers, AddedToken
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(MINIMAX_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok = train(pre, 2500)
    tok.normalizer = normalizers.Sequence([normalizers.NFKC()])
    tok.add_special_tokens([AddedToken("[e~[", normalized=False, special=True)])
    tok.add_tokens([AddedToken("<think>", normalized=True), AddedToken("</think>", normalized=True)])
    return tok, tok.to_str(pretty=True)


def gpt2_tokenizer():
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok = train(pre, 2000)
    tok.add_special_tokens(["<|endoftext|>"])
    return tok, tok.to_str(pretty=True)


def invalid_utf8_cases():
    return [
        b"abc\xffdef",
        b"\x80",
        b"caf\xc3",  # truncated 2-byte sequence at the end
        b"\xe4\xb8 mid",  # truncated 3-byte sequence
        b"\xed\xa0\x80 surrogate",  # encoded surrogate
        b"\xc0\xaf overlong",
        b"\xf4\x90\x80\x80 above U+10FFFF",
        b"ok \xf0\x9f\x98 \xf0\x9f\x98\x8d end",
        b"  \xfe\xfe  spaces",
        b"<think>\xff</think>",
    ]


def split_invalid(data: bytes):
    """mmd's defined behaviour: the input is cut at every byte that is not part of a valid UTF-8
    sequence; each valid run is encoded on its own, each invalid byte is its own byte token."""
    parts, i, start = [], 0, 0
    while i < len(data):
        n = valid_len(data, i)
        if n == 0:
            if start < i:
                parts.append(data[start:i].decode("utf-8"))
            parts.append(data[i:i + 1])
            i += 1
            start = i
        else:
            i += n
    if start < len(data):
        parts.append(data[start:].decode("utf-8"))
    return parts


def valid_len(data, i):
    for n in (1, 2, 3, 4):
        try:
            data[i:i + n].decode("utf-8")
            return n
        except UnicodeDecodeError:
            continue
    return 0


def byte_token_ids(tok):
    alphabet = bytes_to_unicode()
    return {b: tok.token_to_id(alphabet[b]) for b in range(256)}


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


LONG = [
    " " * 20000 + "a",
    "\n" * 3000 + "x" + " \n" * 3000,
    "!?" * 5000 + " word",
    "abc" * 5000,
    "9" * 10001,
]


def expected_for(tok, corpus, invalid):
    out = {"valid": [], "invalid": [], "long": []}
    for text in LONG:
        out["long"].append({"ids": tok.encode(text, add_special_tokens=False).ids})
    for text in corpus:
        ids = tok.encode(text, add_special_tokens=False).ids
        out["valid"].append({
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })
    byte_ids = byte_token_ids(tok)
    for data in invalid:
        ids = []
        for part in split_invalid(data):
            if isinstance(part, bytes):
                ids.append(byte_ids[part[0]])
            else:
                ids += tok.encode(part, add_special_tokens=False).ids
        out["invalid"].append({
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
        })
    # Arbitrary id sequences: byte tokens split by added tokens (decode chunking), lone continuation
    # bytes, special tokens only.
    b = byte_ids
    specials = [i for i in (tok.token_to_id("<think>"), tok.token_to_id("[e~["), tok.token_to_id("<|endoftext|>"))
                if i is not None]
    sp = specials[0]
    for ids in ([b[0xE4], sp, b[0xB8], b[0xAD]], [b[0xE4], b[0xB8], b[0xAD]], [b[0xB8], b[0x41], b[0xF0]],
                specials, [b[0x20], sp, b[0x20]] + specials):
        out.setdefault("decode_only", []).append({
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    corpus = corpus_strings()
    invalid = invalid_utf8_cases()
    (OUT / "tokenizer_corpus.json").write_text(json.dumps(
        {"valid": corpus, "invalid_hex": [d.hex() for d in invalid], "long": LONG}, ensure_ascii=False, indent=1) + "\n")
    expected = {}
    tokenizers = {"minimax_test": minimax_tokenizer(), "gpt2_test": gpt2_tokenizer(), "nfkc_test": nfkc_tokenizer()}
    for name, (tok, text) in tokenizers.items():
        (OUT / f"{name}.tokenizer.json").write_text(text)
        expected[name] = expected_for(tok, corpus, invalid)
    (OUT / "tokenizer_expected.json").write_text(json.dumps(expected, ensure_ascii=False) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
