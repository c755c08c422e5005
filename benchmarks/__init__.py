"""shoeagent's benchmarks: scripts that print JSON (``python benchmarks/<name>.py --out FILE``), run together
by ``python benchmarks/run_all.py`` (``make bench``, ``shoeagent bench``), which also renders
``docs/benchmarks.md`` through :mod:`benchmarks.report`."""
