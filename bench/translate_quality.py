"""Translation quality, side by side: chrF (sacrebleu) of Apertium and of the language-model
engine on the project's own English-Spanish test set, both directions, with sentences/s.

    PYTHONPATH=.:gen .venv/bin/python -m bench.translate_quality [--model PATH] [--limit N]

The test set is bench/data/translate_en_es.tsv: sentence pairs written for Voka (everyday,
business and meeting language, some with numbers and dates), each side the other's reference,
so en→es and es→en use the same pairs. Both engines are the service's own classes, called the
way the batcher calls them (batches of `--batch` sentences); the language model is loaded (and
its load timed) before its clock starts. "LLM + guard" is what the service answers: a
sentence whose numbers differ from its source's (services/translate/numbers.py) is Apertium's.

The model is the Qwen2.5 1.5B `make up` installs (tools/local_model.py) unless `--model` names
another GGUF; without one, only Apertium is measured.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sacrebleu

from services.translate.engines.apertium import ApertiumEngine
from services.translate.engines.base import Engine
from services.translate.engines.llm import LlmEngine
from services.translate.numbers import same_numbers
from tools.local_model import ROOT, model_path

DATA = Path(__file__).resolve().parent / "data" / "translate_en_es.tsv"
DIRECTIONS = (("en", "es"), ("es", "en"))


@dataclass(frozen=True)
class Run:
    """One engine over one direction: its outputs and how long they took."""

    outputs: list[str]
    seconds: float


def pairs(path: Path = DATA) -> list[tuple[str, str]]:
    """The (English, Spanish) pairs of the test set; `#` lines are comments."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            english, spanish = line.split("\t")
            found.append((english.strip(), spanish.strip()))
    return found


def timed(engine: Engine, source: str, target: str, texts: Sequence[str], batch: int) -> Run:
    started = time.perf_counter()
    outputs: list[str] = []
    for start in range(0, len(texts), batch):
        outputs += engine.translate(source, target, texts[start : start + batch])
    return Run(outputs, time.perf_counter() - started)


def guarded(
    source: str, target: str, texts: Sequence[str], llm: Run, apertium: Run
) -> tuple[Run, list[str]]:
    """The language model's outputs as the service's number guard leaves them (a sentence
    whose numbers differ is Apertium's), and a line per sentence that fell back. Timed as the
    model's alone: the few Apertium re-runs cost milliseconds against its seconds."""
    outputs, trips = [], []
    for text, ours, theirs in zip(texts, llm.outputs, apertium.outputs, strict=True):
        keep = same_numbers(text, source, ours, target)
        outputs.append(ours if keep else theirs)
        if not keep:
            trips.append(f"  {text!r} -> model {ours!r}, Apertium {theirs!r}")
    return Run(outputs, llm.seconds), trips


def chrf(outputs: Sequence[str], references: Sequence[str]) -> float:
    return float(sacrebleu.corpus_chrf(list(outputs), [list(references)]).score)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=model_path(ROOT / "var"))
    parser.add_argument("--limit", type=int, default=0, help="first N pairs only; 0: all")
    parser.add_argument("--batch", type=int, default=8, help="sentences per engine call")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    args = parser.parse_args(argv)
    test_set = pairs()[: args.limit or None]
    apertium = ApertiumEngine()
    llm = LlmEngine(args.model, args.threads) if args.model.is_file() else None
    print(f"test set: {len(test_set)} pairs ({DATA.relative_to(ROOT)}); model: {args.model}")
    if llm is not None:
        started = time.perf_counter()
        llm.translate("en", "es", ["Hello."])
        loaded = time.perf_counter() - started
        print(f"language model loaded (and one warm-up sentence) in {loaded:.1f} s")
    rows = []
    trips: dict[str, list[str]] = {}
    for source, target in DIRECTIONS:
        index = 0 if source == "en" else 1
        texts = [pair[index] for pair in test_set]
        references = [pair[1 - index] for pair in test_set]
        if not apertium.installed(source, target):
            print(f"apertium lacks {source}-{target}: install apertium-en-es", file=sys.stderr)
            return 1
        runs = {"Apertium": timed(apertium, source, target, texts, args.batch)}
        if llm is not None:
            runs["LLM"] = timed(llm, source, target, texts, args.batch)
            runs["LLM + guard"], trips[f"{source}-{target}"] = guarded(
                source, target, texts, runs["LLM"], runs["Apertium"]
            )
        for name, run in runs.items():
            rows.append((f"{source}→{target}", name, chrf(run.outputs, references), run))
    print(f"\n{'pair':6}  {'engine':12} {'chrF':>6} {'sentences/s':>12}")
    for pair, name, score, run in rows:
        print(f"{pair:6}  {name:12} {score:6.1f} {len(run.outputs) / run.seconds:12.2f}")
    for pair, lines in trips.items():
        print(f"number guard, {pair}: {len(lines)} of {len(test_set)} sentences fell back:")
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
