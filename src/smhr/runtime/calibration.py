"""The decision values measured for one set of weights, stored with them.

Why: detection scores of different trainings are not on one scale (the bundled v2 weights find
hands best at 0.3, an earlier preview at 0.2), and how low a hand that fills the view scores
(`smhr.runtime.large_hands`) is a property of the training too. So the values calibrated for a
network travel inside its files: the model.pt's "meta" (`smhr package`) and, copied from there, the
ONNX export's metadata (`smhr export`, keys prefixed "smhr_"). A loaded backend carries them as its
`calibration`; `Reconstructor.from_pretrained` uses them unless the caller passes a value, and falls
back to the library defaults (those of the bundled weights) for values the file does not store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from smhr.runtime.options import check_large_side, check_min_hand_side, check_score

__all__ = ["KEYS", "ONNX_PREFIX", "Calibration"]

ONNX_PREFIX = "smhr_"  # ONNX metadata keys: smhr_score_threshold, ...
# model.pt meta keys (the fields)
KEYS = ("score_threshold", "large_hand_threshold", "large_side", "min_hand_side")


@dataclass(frozen=True)
class Calibration:
    """What a weights file stores beside the network (None: not stored, the library default holds).

    score_threshold: the detection threshold (best F1 on the held-out splits when packaged).
    large_hand_threshold: the lower score from which a hand spanning >= large_side of a whole view
        is kept (`smhr.runtime.large_hands`; a value >= the threshold turns the rule off).
    large_side: that span, as a share of the view's long side, in (0, 1].
    min_hand_side: hands whose keypoint box is shorter than this share of the network input's side
        in their view are dropped (`smhr.runtime.small_hands`)."""

    score_threshold: float | None = None
    large_hand_threshold: float | None = None
    large_side: float | None = None
    min_hand_side: float | None = None

    def __post_init__(self) -> None:
        check_score("score_threshold", self.score_threshold)
        check_score("large_hand_threshold", self.large_hand_threshold)
        if self.large_side is not None:
            check_large_side(self.large_side)
        check_min_hand_side(self.min_hand_side)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], source: str = "weights") -> Calibration:
        """The values a model.pt's "meta" dict holds; ValueError naming `source` for a bad one."""
        return cls._read({k: meta.get(k) for k in KEYS}, source, "")

    @classmethod
    def from_onnx(cls, props: Mapping[str, str], source: str = "weights") -> Calibration:
        """The values an ONNX export's metadata map holds (strings, keys prefixed ONNX_PREFIX)."""
        return cls._read({k: props.get(ONNX_PREFIX + k) for k in KEYS}, source, ONNX_PREFIX)

    @classmethod
    def _read(cls, raw: Mapping[str, Any], source: str, prefix: str) -> Calibration:
        values: dict[str, float | None] = {}
        for key, value in raw.items():
            try:
                values[key] = None if value is None else float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{source}: stored {prefix}{key} {value!r} is not a number; repackage "
                                 "the weights with `smhr package`") from None
        try:
            return cls(**values)
        except ValueError as e:
            raise ValueError(f"{source}: stored {e} (metadata {prefix}*); repackage the weights with "
                             "`smhr package`") from None

    def to_meta(self) -> dict[str, float]:
        """The stored values, for a model.pt's "meta" (the keys of values not stored are left out)."""
        return {k: float(v) for k, v in asdict(self).items() if v is not None}

    def to_onnx(self) -> dict[str, str]:
        """The stored values as ONNX metadata properties (exact float text)."""
        return {ONNX_PREFIX + k: repr(v) for k, v in self.to_meta().items()}
