"""The program: what `pulumi up` runs (the repository's __main__.py, program/components/ and this package).

It imports only what requirements.txt installs, and nothing from the tooling (shoestring/): the
plan, cost reports, diff, rules and on-call read what this program declares, never the reverse
(tests/test_boundaries.py walks the imports). names.py holds the names, labels and type tokens
both sides share."""
