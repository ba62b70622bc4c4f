# egd developer recipes; `just --list` shows them.

# run egd on its embedded defaults (starts its own nats-server under ./.egd)
run *ARGS:
    egd serve {{ARGS}}

# the whole test suite, as CI runs it (installs what it needs first)
test *ARGS:
    bash scripts/test {{ARGS}}

# benchmarks under tests/bench (report medians in the issue note)
bench *ARGS:
    python3 -m pytest tests/bench -p no:cacheprovider -o addopts="" --timeout 1800 -s {{ARGS}}

# ruff and mypy, both clean
lint:
    python3 -m ruff check .
    python3 -m mypy
