"""What an algorithm's working arrays cost per computed slice: the figure the slab plans (strategies.plan) divide
a memory budget by."""

from __future__ import annotations

from dataclasses import dataclass

from ..projectors.pitch_frame import PitchFrame

BYTES = 4  # float32
FRAME_VOLUMES = 2


@dataclass(frozen=True)
class Footprint:
    """Bytes one computed slice costs: volume-sized and projection-sized working arrays per slice."""

    volumes: int
    projections: int

    def per_slice(self, geom) -> int:
        """Per slice of ``geom`` (a Geometry); with one X-axis tilt for all views the projector's tilted frame
        (projectors/pitch_frame.py) counts as two volumes, which covers its extra rows for slabs of 40 slices and
        more at 5 degrees."""
        volumes = self.volumes + (FRAME_VOLUMES if PitchFrame.applies(geom) else 0)
        return BYTES * (volumes * geom.thickness * geom.width + self.projections * geom.nviews * (geom.nx + 2))
