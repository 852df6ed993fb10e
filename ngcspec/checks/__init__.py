"""The checks of meaning the resolver runs once a circuit file has the right form.

Each module checks one concern and reports into one shared :class:`Collector`, so that
``ngc validate`` lists every problem of a file at once, each located in it:

- :mod:`.components`: kinds, parameters, shapes, initial values, normalisation;
- :mod:`.wiring`: wires, ties and the execution order;
- :mod:`.phases`: data sources, phases, metrics and records; :mod:`.schedule` and
  :mod:`.clamps` for what each phase runs and sets;
- :mod:`.resources`: sizes no machine can hold;
- :mod:`.values` and :mod:`.refs`: arrays and ``component.compartment`` references.
"""
