"""symgrad's benchmarks: `python -m benchmarks` prints median times and ratios against peers."""
