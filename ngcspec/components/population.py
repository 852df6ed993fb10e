"""Populations of units: ``n_units`` values per sample, optionally laid out as an image.

Cells (graded and spiking) declare their per-unit compartments with the shape ``"n_units"``.
A cell given ``shape: [H, W, C]`` (with H * W * C = n_units) holds those compartments as
(B, H, W, C) images instead, so it wires directly to convolutional synapses (NHWC). The
equations of a cell act unit by unit, so the layout changes nothing but the shapes; where a
rule looks across the units of a sample (one spike per sample), it takes all H * W * C.
"""

from __future__ import annotations

import math

from pydantic import Field, PositiveInt

from ngcspec.registry import Component, eval_shape

ImageShape = tuple[PositiveInt, PositiveInt, PositiveInt]


def image_shape_field():
    """The optional ``shape`` parameter of a population."""
    return Field(None, description="(H, W, C) for an image-shaped cell (compartments "
                                   "(B, H, W, C), e.g. to wire convolutional synapses); "
                                   "H*W*C must equal n_units")


def unit_shape(p) -> tuple[int, ...]:
    """Per-sample shape of a population's compartments: ``shape`` if given, else (n_units,)."""
    shape = getattr(p, "shape", None)
    return tuple(shape) if shape is not None else (p.n_units,)


class Population(Component):
    """Compartments declared with shape ``"n_units"`` take the cell's (H, W, C) when given."""

    @classmethod
    def shapes(cls, p) -> dict[str, tuple[int, ...]]:
        unit = unit_shape(p)
        return {name: unit if c.shape == "n_units" else eval_shape(c.shape, p)
                for name, c in cls.compartments.items()}

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        shape = getattr(p, "shape", None)
        if shape is not None and math.prod(shape) != p.n_units:
            return [("shape", f"shape {tuple(shape)} holds {math.prod(shape)} units but "
                              f"n_units is {p.n_units}; set n_units to H*W*C")]
        return []
