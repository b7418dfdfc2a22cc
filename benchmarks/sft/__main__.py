"""`python -m benchmarks.sft`: the benchmark's command line (see run.py)."""
import os

from .run import main

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
main()
