"""libfreenect's recording format (what its `record` tool writes and fakenect replays), written
from frames the service makes itself, so tests and demos need no download and no Kinect.

A dump is a directory with `INDEX.txt` listing, in time order, files named
`<kind>-<seconds>-<device timestamp>.<ext>`: `d-*.pgm` (one-line header `P5 640 480 65535`, then
11-bit disparity as native little-endian uint16, not PGM's big-endian), `r-*.ppm` (`P6 640 480
255`, then RGB bytes) and `a-*.dump` (a raw `freenect_raw_tilt_state`: accelerometer counts,
tilt in half degrees, motor status).

`python -m services.kinect.dump DIR [--seconds S]` writes the synthetic scene as a dump.
"""

from __future__ import annotations

import argparse
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.kinect.frames import HEIGHT, WIDTH
from services.kinect.synthetic import SENSOR_FPS, depth_at, rgb_at

COUNTS_PER_G = 819  # libfreenect's FREENECT_COUNTS_PER_G
TICKS_PER_FRAME = 1_000_000  # device timestamp step between recorded frames
START = 1_700_000_000.0  # recording wall clock of the first frame


@dataclass(frozen=True)
class Scene:
    """One recorded instant: both cameras and the motor (raw units, as libfreenect has them)."""

    depth: npt.NDArray[np.uint16]
    rgb: npt.NDArray[np.uint8]
    accel_counts: tuple[int, int, int] = (0, COUNTS_PER_G, 0)
    tilt_half_degrees: int = 0
    tilt_status: int = 0  # TILT_STATUS_STOPPED


def write(directory: Path, scenes: Sequence[Scene], fps: int = SENSOR_FPS) -> list[int]:
    """Write `scenes` as a dump, one every 1/fps s; returns each scene's device timestamp."""
    directory.mkdir(parents=True, exist_ok=True)
    index: list[str] = []
    stamps: list[int] = []
    for i, scene in enumerate(scenes):
        seconds, stamp = START + i / fps, (i + 1) * TICKS_PER_FRAME
        entries = {
            f"d-{seconds:.6f}-{stamp}.pgm": _pgm(scene.depth),
            f"r-{seconds + 0.001:.6f}-{stamp}.ppm": _ppm(scene.rgb),
            f"a-{seconds + 0.002:.6f}-{stamp}.dump": _tilt(scene),
        }
        for name, data in entries.items():
            (directory / name).write_bytes(data)
            index.append(name)
        stamps.append(stamp)
    (directory / "INDEX.txt").write_text("\n".join(index) + "\n")
    return stamps


def longest_gap(directory: Path) -> float:
    """The longest pause between two recorded entries, in seconds: fakenect replays in real
    time, so a capture that waits longer than this (plus slack) has reached the end."""
    times = [float(line.split("-")[1]) for line in _entries(directory)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return max(gaps, default=0.0)


def check(directory: Path) -> None:
    """Refuse a directory fakenect could not replay (it would exit the capture process)."""
    if not (directory / "INDEX.txt").is_file():
        raise RuntimeError(f"{directory} is not a libfreenect recording: no INDEX.txt")
    if not any(line.startswith("d-") for line in _entries(directory)):
        raise RuntimeError(f"{directory}/INDEX.txt lists no depth frame (d-*.pgm)")


def _entries(directory: Path) -> list[str]:
    return [line for line in (directory / "INDEX.txt").read_text().splitlines() if line]


def _pgm(depth: npt.NDArray[np.uint16]) -> bytes:
    return f"P5 {WIDTH} {HEIGHT} 65535\n".encode() + depth.astype("<u2").tobytes()


def _ppm(rgb: npt.NDArray[np.uint8]) -> bytes:
    return f"P6 {WIDTH} {HEIGHT} 255\n".encode() + np.ascontiguousarray(rgb).tobytes()


def _tilt(scene: Scene) -> bytes:
    # int16 x, y, z; int8 tilt angle; padding; int32 status (freenect_raw_tilt_state).
    return struct.pack("<hhhbxi", *scene.accel_counts, scene.tilt_half_degrees, scene.tilt_status)


def synthetic(seconds: float, fps: int = SENSOR_FPS) -> list[Scene]:
    """The synthetic scene, sampled for `seconds`."""
    return [Scene(depth_at(i / fps), rgb_at(i / fps)) for i in range(max(1, round(seconds * fps)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    write(args.directory, synthetic(args.seconds))


if __name__ == "__main__":
    main()
