"""A tiny MarianMT model built from nothing: random weights (d_model 32, 2+2 layers) and
sentencepiece vocabularies trained on twenty sentence pairs, saved with `save_pretrained` in the
opus-mt layout the service loads real models from. Its output is gibberish; its shape is real."""

from __future__ import annotations

import json
from pathlib import Path

import sentencepiece as spm
import torch
from transformers import MarianConfig, MarianMTModel, MarianTokenizer

SEED = 20261122
PAIRS = [
    ("Hello, how are you?", "Hallo, wie geht es dir?"),
    ("Good morning.", "Guten Morgen."),
    ("The house is big.", "Das Haus ist groß."),
    ("I like the sea.", "Ich mag das Meer."),
    ("Where is the station?", "Wo ist der Bahnhof?"),
    ("Thank you very much.", "Vielen Dank."),
    ("The cat sleeps on the sofa.", "Die Katze schläft auf dem Sofa."),
    ("We are going home now.", "Wir gehen jetzt nach Hause."),
    ("It is raining today.", "Heute regnet es."),
    ("My brother reads a book.", "Mein Bruder liest ein Buch."),
    ("The coffee is hot.", "Der Kaffee ist heiß."),
    ("Please open the window.", "Bitte öffne das Fenster."),
    ("The children play in the park.", "Die Kinder spielen im Park."),
    ("I need a new phone.", "Ich brauche ein neues Telefon."),
    ("The meeting starts at nine.", "Das Treffen beginnt um neun."),
    ("She works in a hospital.", "Sie arbeitet in einem Krankenhaus."),
    ("This street is very quiet.", "Diese Straße ist sehr ruhig."),
    ("Can you help me?", "Kannst du mir helfen?"),
    ("The train is late again.", "Der Zug ist wieder spät."),
    ("Good night and sleep well.", "Gute Nacht und schlaf gut."),
]


def build(directory: Path) -> Path:
    """Write a tiny model into `directory` (created) and return it."""
    work = directory.parent / f".{directory.name}-spm"
    work.mkdir(parents=True, exist_ok=True)
    for side, lines in (("source", [p[0] for p in PAIRS]), ("target", [p[1] for p in PAIRS])):
        (work / f"{side}.txt").write_text("\n".join(lines))
        spm.SentencePieceTrainer.train(
            input=str(work / f"{side}.txt"),
            model_prefix=str(work / side),
            vocab_size=64,
            hard_vocab_limit=False,
            character_coverage=1.0,
            pad_id=0,
            eos_id=1,
            unk_id=2,
            bos_id=-1,
            pad_piece="<pad>",
            eos_piece="</s>",
            minloglevel=2,
        )
    # opus-mt's layout: `<pad>` is the last entry of the shared vocabulary (CTranslate2's
    # converter relies on it).
    vocab: dict[str, int] = {}
    for side in ("source", "target"):
        processor = spm.SentencePieceProcessor(model_file=str(work / f"{side}.model"))
        for i in range(processor.get_piece_size()):
            if processor.id_to_piece(i) != "<pad>":
                vocab.setdefault(processor.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)
    (work / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = MarianTokenizer(
        source_spm=str(work / "source.model"),
        target_spm=str(work / "target.model"),
        vocab=str(work / "vocab.json"),
    )
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=256,
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=vocab["</s>"],
    )
    tokenizer.save_pretrained(directory)
    torch.manual_seed(SEED)  # the same weights every run: outputs are comparable across runs
    MarianMTModel(config).save_pretrained(directory)
    return directory
