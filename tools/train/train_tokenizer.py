#!/usr/bin/env python3
"""Train the tiny model's byte-level BPE tokenizer with Hugging Face `tokenizers`.

Mirrors the MiniMax-M2 tokenizer design (spec minimax-m2.md §4): byte-level BPE, the o200k-style
split regex of §4.2 applied before the byte-level mapping, no normaliser, and the 54 MiniMax
special strings of §4.3 appended *after* the merged vocabulary (as 200000-200053 follow the
200000 BPE tokens in the real one). The config vocab is 10 rows larger than the tokenizer, like
the real 200064 vs 200054.
"""
import argparse
import json
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent

# Spec §4.2, verbatim.
SPLIT_REGEX = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
               r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
               r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# Spec §4.3, in id order (offsets 0..53 after the BPE vocabulary).
SPECIAL_TOKENS = (
    ["]!p~[", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
     "<reponame>", "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>",
     "<issue_closed>", "<jupyter_start>", "<jupyter_text>", "<jupyter_code>",
     "<jupyter_output>", "<empty_output>", "<commit_before>", "<commit_msg>", "<commit_after>",
     "]~b]", "[e~[", "]!d~[", "<function_call>", "<code_interpreter>",
     "]<]speech[>[", "]<]image[>[", "]<]video[>[", "]<]start of speech[>[",
     "]<]end of speech[>[", "]<]start of image[>[", "]<]end of image[>[",
     "]<]start of video[>[", "]<]end of video[>[", "]<]vision pad[>[", "]~!b[",
     "<jupyter_error>", "<add_file>", "<delete_file>", "<rename_file>", "<edit_file>",
     "<commit_message>", "<empty_source_file>", "<repo_struct>", "<code_context>",
     "<file_content>", "<source_files>", "<pr_start>", "<review_comment>", "<filepath>",
     "<file_sep>", "<think>", "</think>", "<minimax:tool_call>", "</minimax:tool_call>"])
assert len(SPECIAL_TOKENS) == 54
# The reasoning / tool-call markers must survive decode with skip_special_tokens=True, because
# vLLM-style parsers look for them in decoded text (spec §4.3 "Detokenisation").
NOT_SKIPPED = {"<think>", "</think>", "<minimax:tool_call>", "</minimax:tool_call>"}


def build(texts, bpe_vocab):
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=bpe_vocab, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(texts, trainer=trainer)
    assert tok.get_vocab_size() == bpe_vocab, tok.get_vocab_size()
    tok.add_tokens([AddedToken(t, special=t not in NOT_SKIPPED, normalized=False,
                               single_word=False, lstrip=False, rstrip=False)
                    for t in SPECIAL_TOKENS])
    return tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(HERE / "work" / "data" / "train.jsonl"))
    ap.add_argument("--out", default=str(HERE / "work" / "tokenizer"))
    ap.add_argument("--bpe-vocab", type=int, default=1984)
    args = ap.parse_args()

    def texts():
        with open(args.data) as fh:
            for line in fh:
                t = json.loads(line)["text"]
                # Specials are matched atomically at encode time; keep them out of the merges.
                for s in SPECIAL_TOKENS:
                    t = t.replace(s, "\n")
                yield t

    tok = build(texts(), args.bpe_vocab)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="]~!b[", eos_token="[e~[", unk_token="]!d~[",
        pad_token="]!p~[", add_bos_token=False, add_eos_token=False,
        clean_up_tokenization_spaces=False, model_max_length=2048)
    fast.chat_template = (HERE / "chat_template.jinja").read_text()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(args.out)
    # Loadable by transformers 4.x and 5.x alike; the template emits BOS itself (spec §4.4).
    p = Path(args.out) / "tokenizer_config.json"
    c = json.loads(p.read_text())
    c.update({"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False,
              "add_eos_token": False})
    p.write_text(json.dumps(dict(sorted(c.items())), indent=2) + "\n")
    ids = {t: fast.convert_tokens_to_ids(t) for t in ["]~!b[", "]~b]", "[e~[", "<think>", "</think>",
                                                       "<minimax:tool_call>", "</minimax:tool_call>"]}
    print("vocab", len(fast), "special ids", ids)


if __name__ == "__main__":
    main()
