"""The traffic scenario (Art15): signal control on SUMO measured the way RESCO measures it.

Work in progress (issue 5): the delay metric is here; simulation, controllers, the bench CLI
and the live demo follow.
"""
