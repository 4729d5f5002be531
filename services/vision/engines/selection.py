"""The engines this process runs, chosen once from its settings: local models by default, a
remote provider wherever one is configured (docs/vision.md, "Engines")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.vision.engines.base import (
    Captioner,
    HandDetector,
    ImageClassifier,
    ObjectDetector,
    SignClassifier,
)
from services.vision.engines.composed import ComposedCaptioner
from services.vision.engines.local.classifier import LocalClassifier
from services.vision.engines.local.detector import LocalDetector
from services.vision.engines.local.hands import LocalHands
from services.vision.engines.remote.chat_models import AnthropicCaptioner, OpenAiCaptioner
from services.vision.engines.remote.guard import Guard
from services.vision.engines.remote.huggingface import (
    HfCaptioner,
    HfObjectDetector,
    HfSignClassifier,
    HuggingFace,
)
from services.vision.settings import VisionSettings
from services.vision.workers import Workers


@dataclass
class Engines:
    """One engine per task, and what must be closed when the service stops."""

    detector: ObjectDetector
    classifier: ImageClassifier
    captioner: Captioner
    hands: HandDetector
    sign: SignClassifier | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        for close in self.closers:
            await close()


def _guard(settings: VisionSettings, provider: str) -> Guard:
    return Guard(
        provider,
        timeout=settings.vision_provider_timeout_seconds,
        retries=settings.vision_provider_retries,
        backoff=settings.vision_provider_backoff_seconds,
        failures=settings.vision_breaker_failures,
        reset_seconds=settings.vision_breaker_reset_seconds,
    )


def _captioner(settings: VisionSettings, huggingface: HuggingFace) -> Captioner:
    provider = settings.vision_caption_provider
    if provider == "huggingface" and settings.vision_hf_caption_model:
        return HfCaptioner(huggingface, settings.vision_hf_caption_model)
    if provider == "openai" and settings.vision_openai_model:
        key = settings.vision_openai_api_key.get_secret_value()
        guard = _guard(settings, "openai")
        return OpenAiCaptioner(settings.vision_openai_base_url, key, settings.vision_openai_model,
                               guard)  # fmt: skip
    if provider == "anthropic" and settings.vision_anthropic_model:
        key = settings.vision_anthropic_api_key.get_secret_value()
        guard = _guard(settings, "anthropic")
        return AnthropicCaptioner(settings.vision_anthropic_base_url, key,
                                  settings.vision_anthropic_model, guard)  # fmt: skip
    return ComposedCaptioner()


def select(settings: VisionSettings, workers: Workers) -> Engines:
    huggingface = HuggingFace(
        settings.vision_hf_base_url,
        settings.vision_hf_token.get_secret_value(),
        _guard(settings, "huggingface"),
    )
    detector: ObjectDetector = LocalDetector(settings.vision_models_dir, workers)
    if settings.vision_hf_image_model:
        detector = HfObjectDetector(huggingface, settings.vision_hf_image_model)
    sign = None
    if settings.vision_hf_sign_model:
        sign = HfSignClassifier(huggingface, settings.vision_hf_sign_model)
    hands = LocalHands(settings.vision_gesture_task, workers)
    captioner = _captioner(settings, huggingface)
    engines = Engines(detector, LocalClassifier(workers, settings.vision_torch_threads),
                      captioner, hands, sign)  # fmt: skip
    engines.closers.append(huggingface.guard.close)
    guard = getattr(captioner, "guard", None)
    if isinstance(guard, Guard):
        engines.closers.append(guard.close)

    async def close_hands() -> None:
        hands.close()

    engines.closers.append(close_hands)
    return engines
