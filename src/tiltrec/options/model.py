"""The typed options of one reconstruction, grouped as the table groups them (input, geometry, algorithm, output,
resources); the classes are made from options.table, so a new option needs no change here.

``Options.algorithm`` is also what an algorithm is given (``Settings``): its options plus two figures the run adds
(``data_mean``, ``threads``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass

from .table import BY_NAME, GROUPS, OPTIONS


class _AlgorithmDefaults:
    """The defaults that depend on the algorithm (options.table's ``per_algorithm``)."""

    def iterations_for(self, name: str) -> int:
        return self.iter if self.iter is not None else dict(BY_NAME["iter"].per_algorithm)[name]

    def relax_for(self, name: str) -> float:
        return self.relax if self.relax is not None else dict(BY_NAME["relax"].per_algorithm)[name]

    def scale_pair(self) -> tuple[float, float]:
        """IMOD's SCALE (ADD, MULT); (0, 1) when not given."""
        return self.scale if self.scale is not None else (0.0, 1.0)


def _group(group: str, extra: list | None = None, bases: tuple = ()):
    declared = [(o.name, o.kind.annotation, field(default=o.default)) for o in OPTIONS if o.group == group]
    made = make_dataclass(f"{group.title()}Options", declared + (extra or []), bases=bases, frozen=True)
    made.__module__ = __name__
    return made


InputOptions = _group("input")
GeometryOptions = _group("geometry")
AlgorithmOptions = _group("algorithm", bases=(_AlgorithmDefaults,), extra=[
    ("data_mean", float, field(default=0.0)),  # the mean of the whole stack: IMOD fills samples outside the data
    ("threads", int, field(default=-1)),  # FFT workers (-1: all cores)
])
OutputOptions = _group("output")
ResourceOptions = _group("resources")
Settings = AlgorithmOptions
_CLASSES = dict(zip(GROUPS, (InputOptions, GeometryOptions, AlgorithmOptions, OutputOptions, ResourceOptions)))


@dataclass(frozen=True)
class Options:
    """All options of a reconstruction, checked (options.request.make_options builds them)."""

    input: InputOptions = field(default_factory=InputOptions)
    geometry: GeometryOptions = field(default_factory=GeometryOptions)
    algorithm: AlgorithmOptions = field(default_factory=AlgorithmOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    resources: ResourceOptions = field(default_factory=ResourceOptions)

    @classmethod
    def of(cls, values: dict) -> "Options":
        """From option values by name (others take their defaults); no checks."""
        return cls(**{group: klass(**{f.name: values[f.name] for f in fields(klass) if f.name in values})
                      for group, klass in _CLASSES.items()})

    def values(self) -> dict:
        """Every option's value by name."""
        return {o.name: getattr(getattr(self, o.group), o.name) for o in OPTIONS}
