"""Running one job on several MPI ranks: who does which slabs, and how they agree."""

from .collective import RankFailure, agree, collectively
from .world import World, detect_world

__all__ = ["RankFailure", "World", "agree", "collectively", "detect_world"]
