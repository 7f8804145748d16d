"""Benchmarks of the identity provider against the performance budget of issue 8.

`make bench` (= `python -m bench`) measures everything in one run on this machine and
writes docs/performance.md; see bench/__main__.py for the options.
"""
