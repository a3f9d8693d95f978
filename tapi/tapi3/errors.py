"""`TapiError`: a failed HRESULT, raised by the Pythonic form of the 3.x objects."""

from __future__ import annotations

from tapi.constants import hresult_name


class TapiError(Exception):
    """A 3.x method failed. `hr` is the HRESULT as a signed 32-bit int, exactly what the
    flat (Microsoft-named) form of the same method returns: ``TapiError(hr).hr == hr``.
    Success codes (S_OK, S_FALSE) are never raised."""

    def __init__(self, hr: int, what: str = "") -> None:
        self.hr = hr
        self.name = hresult_name(hr)
        super().__init__(f"{what}: {self.name}" if what else self.name)


def check(hr: int, what: str = "") -> int:
    """`hr` itself if it is a success code (S_OK, S_FALSE), else raise TapiError(hr)."""
    if hr < 0:
        raise TapiError(hr, what)
    return hr
