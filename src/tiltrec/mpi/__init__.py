"""Running one job on several MPI ranks: who does which slabs, and how they agree."""

from .collective import RankFailure, agree, collectively, committing
from .halo import Halo
from .world import World, detect_world

__all__ = ["Halo", "RankFailure", "World", "agree", "collectively", "committing", "detect_world"]
