"""Stateless reshaping and thresholding: what a graph between image layers and dense layers
needs besides synapses and cells.

Wires join compartments of one shape, so an image-shaped output (B, H, W, C) reaches a dense
synapse (B, n) through a :class:`Flatten`. Its ``order`` says which index runs fastest: ``hwc``
is ngcspec's own layout read row by row (C fastest); ``chw`` is NIR's and PyTorch's C-major
order (W fastest), so dense weights written for a (C, H, W) flatten apply unchanged.
:class:`ThresholdCell` is a Heaviside step with no membrane: 1 where j - thr > 0, else 0.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from ngcspec.components.population import ImageShape, Population, image_shape_field
from ngcspec.registry import Component, ComponentParams, In, Out, register

FAMILY = "shaping"


@register
class Flatten(Component):
    """An (H, W, C) image per sample, flattened to H*W*C values in a declared order.

        hwc: outputs[b, (h*W + w)*C + c] = inputs[b, h, w, c]   (ngcspec's layout, C fastest)
        chw: outputs[b, (c*H + h)*W + w] = inputs[b, h, w, c]   (NIR's / PyTorch's C-major)

    Stateless: the output is the input of this step, rearranged; nothing is learned.
    """

    family = FAMILY

    class Params(ComponentParams):
        shape: ImageShape = Field(..., description="(H, W, C) of the image it flattens")
        order: Literal["hwc", "chw"] = Field(
            "hwc", description="index order of the flat output: hwc (ngcspec's, C fastest) or "
                               "chw (NIR's and PyTorch's, W fastest)")

    compartments = {
        "inputs": In("shape[0], shape[1], shape[2]", "image to flatten (H, W, C)"),
        "outputs": Out("shape[0] * shape[1] * shape[2]", "the image as H*W*C values in `order`"),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        x = s["inputs"]
        if p.order == "chw":
            x = x.transpose(0, 3, 1, 2)
        return {"outputs": x.reshape(x.shape[0], -1)}


@register
class ThresholdCell(Population):
    """A Heaviside step with no membrane (NIR's Threshold):

        s = 1 where j - thr > 0, else 0   (so exactly 0 at j = thr)

    Stateless: each step's output depends on that step's input alone.
    """

    family = FAMILY

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of units")
        thr: float = Field(0.0, description="threshold theta: s = 1 where j > theta")
        shape: ImageShape | None = image_shape_field()

    compartments = {
        "j": In("n_units", "input compared with the threshold"),
        "s": Out("n_units", "1 where j - thr > 0, else 0"),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        j = s["j"]
        return {"s": (j - p.thr > 0).astype(j.dtype)}
