"""Entry point kept for the commands in the READMEs: the benchmark itself is the package benchmarks/sft/.

python benchmarks/sft_benchmark.py [--recipes a,b] [--out DIR] [--tiny]   ==   python -m benchmarks.sft ...
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.sft.run import main  # noqa: E402

if __name__ == "__main__":
    main()
