"""A tiny random-weight Wan pipeline, built locally so that development and tests need no download.

Its output is noise, but it exercises the same code path as a real Wan model: the same pipeline
class, text encoder type, VAE, scheduler and step callbacks, saved and loaded the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diffusers import WanPipeline
    from transformers import PreTrainedTokenizerFast

SEED = 0
# A handful of words so demo prompts produce varied token ids; anything else maps to <unk>.
VOCABULARY = """
a an the of and in on at with over under through by from into
cat dog bird fish horse city street forest sea river mountain sky sun moon star night day rain
snow fog light shadow fire water tree flower house window door road car boat train
red orange yellow green blue purple black white gold silver
painting portrait landscape photo film sketch
walking running flying swimming dancing falling turning glowing
slow fast quiet bright dark soft old new small large
"""
SPECIAL_TOKENS = {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}


def ensure_demo_model(path: Path) -> bool:
    """Build the demo pipeline at ``path`` unless one is there; return whether it was built."""
    if (path / "model_index.json").exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        build_demo_pipeline().save_pretrained(staging)
        return _publish(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, path: Path) -> bool:
    # rename() makes the model appear whole or not at all, so a worker never loads half a model.
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from workers running as other users
    try:
        os.rename(staging, path)
    except OSError:
        if (path / "model_index.json").exists():
            return False  # another process published it first
        raise
    return True


def build_demo_pipeline() -> WanPipeline:
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = build_tokenizer()
    # fork_rng keeps the caller's global RNG state untouched while making the weights reproducible.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=len(tokenizer),
                d_model=32,
                d_kv=8,
                d_ff=64,
                num_layers=2,
                num_heads=4,
                relative_attention_num_buckets=8,
                dropout_rate=0.0,
            )
        )
        transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=2,
            attention_head_dim=12,
            in_channels=16,
            out_channels=16,
            text_dim=32,
            freq_dim=256,
            ffn_dim=32,
            num_layers=2,
            rope_max_seq_len=32,
        )
        vae = AutoencoderKLWan(
            base_dim=3,
            z_dim=16,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder.eval(),
        vae=vae.eval(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        transformer=transformer.eval(),
    )


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A T5-style word-level tokenizer over ``VOCABULARY``, built without any download."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS.values())}
    for word in VOCABULARY.split():
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    # Like T5, end every sequence with </s>.
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        **SPECIAL_TOKENS,
        model_max_length=512,
    )
