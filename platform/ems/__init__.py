"""EMS: the application plane of the energy management platform.

The folder is ``platform/`` (as the customer asked) but the package is ``ems``:
``platform`` is a standard-library module and must never be shadowed.
"""

__version__ = "0.1.0"
