"""Errors for data sets: files that are missing or hold something else than expected."""

from __future__ import annotations

from approxhil.errors import ApproxHilError


class DataError(ApproxHilError, ValueError):
    """A data file or folder whose content does not have the expected layout, shapes or labels."""

    default_fix = "check the data location (--data or APPROXHIL_DATA) and its files"


class DataMissingError(ApproxHilError, FileNotFoundError):
    """No data set at any of the places looked at; the message lists them and how to get the data."""
