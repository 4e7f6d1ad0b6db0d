"""CityBrain (城市大脑): an open city data hub, governance gate and scenario platform."""

__version__ = "0.1.0"
