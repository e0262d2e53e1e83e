"""Which scale a tomogram's values are on, as its labels tell: IMOD's WBP scale (IMOD's tilt, tiltrec's wbp, bpt
and imod-sirt: about nx/2.2 times the density, which a reprojection divides out) or densities per pixel of path
(tiltrec's sirt, sart, fbp and admm: summed as they are)."""

from __future__ import annotations

import re

IMOD_SCALE = ("WBP", "BPT", "IMOD-SIRT")
DENSITY_SCALE = ("SIRT", "SART", "FBP", "ADMM")
_TILTREC = re.compile(r"^tiltrec\S* [\w.+-]+: (\S+) \d+x\d+x\d+ bin ")
_IMOD = re.compile(r"^TILT: ")


def imod_scale_from_labels(labels) -> bool | None:
    """True for IMOD's scale, False for densities, None when no label says (the newest label that does counts:
    a later program may have rescaled the values)."""
    for label in reversed(list(labels)):
        match = _TILTREC.match(label)
        if match and match[1] in IMOD_SCALE + DENSITY_SCALE:
            return match[1] in IMOD_SCALE
        if _IMOD.match(label):
            return True
    return None
