"""The data catalogue (Art9): datasets, published APIs, search, DCAT-AP and CKAN views."""
