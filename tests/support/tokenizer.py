"""A tiny byte-level BPE tokenizer for tests (no model hub): trained with the `tokenizers` library on the project's
own docs, as ../shared/peers/README.md describes, saved as DIR/tokenizer.json."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_tokenizer(out_dir: Path, vocab_size: int = 2000) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    lines: list[str] = []
    for p in sorted((ROOT / "docs").glob("*.md")):
        lines += p.read_text(encoding="utf-8").splitlines()
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    return out_dir
