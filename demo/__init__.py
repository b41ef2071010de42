"""The demo desk: a believable desk for development, screenshots and benchmarks (`manage.py seed_demo`).

A development app, installed by the local and test settings only: production never loads it, and
nothing outside it (but the tests and the benchmarks) imports it. It has no models; it writes the
rows of the other apps.
"""
