"""Benchmark tooling for issue 7: page generator, static server, cycle timing, rules speed.

Run by hand, never by `make test` (see README, "Performance"). make_pages.py and serve.py use
only the standard library and import nothing from claimwatch.
"""
