"""Security responsibility (Art17): each organisation's security officer, incidents, risk
bulletins and their acknowledgement."""
