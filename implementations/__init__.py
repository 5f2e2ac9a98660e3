"""The data-access variants compared by the harness, their typed contract and the shared schema.

``contract`` defines what every variant implements, ``schema`` the tables they all use, and
``registry`` maps each variant's name to the module that implements it.
"""
