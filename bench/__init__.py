"""mcuforge benchmarks: ``make bench`` (or ``python -m bench``)."""
