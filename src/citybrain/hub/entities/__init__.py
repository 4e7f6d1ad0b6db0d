"""NGSI-LD entities (ETSI GS CIM 009): the city's one store of things and their history."""
