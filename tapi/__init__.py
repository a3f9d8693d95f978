"""linelab's Python implementation of the Microsoft TAPI 2.x line API.

Not to be confused with the unrelated PyPI package also called ``tapi``.
"""
