"""A tiny byte-level BPE tokenizer for the peers' synthetic prompts, trained at bench time (never committed).

`vllm bench serve` takes the folder (`--tokenizer DIR`); AIPerf wants a Hugging Face hub cache, so the same files are
also laid out as `HF_HOME/hub/models--local--tok/snapshots/<40 zeros>/` with `refs/main` naming that snapshot, to be
used as `HF_HOME=... HF_HUB_OFFLINE=1 --tokenizer local/tok`.

    python bench/peers/tokenizer.py OUT_DIR     (writes OUT_DIR/tok and OUT_DIR/hf_home)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = "0" * 40
HUB_NAME = "local/tok"


def _corpus() -> list[str]:
    lines: list[str] = []
    for path in sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "burststudio").rglob("*.py")):
        lines += [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        if len(lines) > 3000:
            break
    return lines


def build(out: Path) -> tuple[Path, Path]:
    """(tokenizer folder, HF_HOME) under `out`; reused when already there."""
    tok_dir, hf_home = out / "tok", out / "hf_home"
    snap = hf_home / "hub" / "models--local--tok" / "snapshots" / SNAPSHOT
    if (tok_dir / "tokenizer.json").exists() and (snap / "tokenizer.json").exists():
        return tok_dir, hf_home
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=1 << 20)
    fast.save_pretrained(str(tok_dir))
    snap.mkdir(parents=True, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tok_dir / f).exists():
            shutil.copy(tok_dir / f, snap / f)
    refs = hf_home / "hub" / "models--local--tok" / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "main").write_text(SNAPSHOT)
    return tok_dir, hf_home


if __name__ == "__main__":
    print(*build(Path(sys.argv[1])))
