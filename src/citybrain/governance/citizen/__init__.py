"""The citizen's view (PIPL §44-45): who used the records linked to my ID number, when, why,
under which grant; export it; object to a use."""
