"""The traffic scenario (Art15): adaptive signal control on SUMO, measured the way RESCO does.

- ``networks``: SUMO from the eclipse-sumo wheel, RESCO maps from the sumo-rl wheel, user files.
- ``episode``: one simulated episode (libsumo), its RESCO delay (``metric``).
- ``signals``: intersections as controllers see them, and the driver that switches safely.
- ``controllers`` / ``citybrain_control``: fixed, actuated, max-pressure, CityBrain's own.
- ``emergency``: the green wave for an ambulance.
- ``bench`` / ``cli``: ``citybrain traffic bench``, in parallel processes or on Ray.
- ``live`` / ``live_grid``: the 3×3 grid that runs in accelerated real time in the demo city.

See docs/traffic.md.
"""
