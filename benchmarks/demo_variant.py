"""`munit demo` (the command's own data, training and scoring) with the adversarial weight changed.

Usage: OMP_NUM_THREADS=1 python benchmarks/demo_variant.py OUT SEED GAN_W
"""

import sys
from pathlib import Path

from munit_cli import demo
from munit_cli.cli.demo import _train_and_show
from munit_cli.config import LossWeights


def main() -> None:
    out, seed, gan_w = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    original = demo.demo_train_config  # read by _train_and_show from the module at call time
    demo.demo_train_config = lambda **changes: original(**{"loss": LossWeights(gan_w=gan_w), **changes})
    _train_and_show(Path(out), 4000, 32, 6, "cpu", seed)


if __name__ == "__main__":
    main()
