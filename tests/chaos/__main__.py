"""`make chaos` (python -m tests.chaos): the availability drill against a real fleet; prints its report and
exits non-zero if any "must be" fails.

    python -m tests.chaos [--seconds 240] [--clients 16] [--seed 8] [--kill-every 3:6] [--stall-seconds 4]
"""

import argparse
import sys

from tests.chaos.drill import Knobs, run


def main() -> int:
    defaults = Knobs()
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="how long the chaos lasts")
    parser.add_argument("--clients", type=int, default=defaults.clients, help="concurrent shoppers")
    parser.add_argument("--products", type=int, default=defaults.products)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--kill-every", default="3:6", help="seconds between kills, as MIN:MAX")
    parser.add_argument("--stall-seconds", type=float, default=defaults.stall_seconds, help="0: no stall")
    parser.add_argument("--max-requests", type=int, default=defaults.max_requests)
    args = parser.parse_args()
    low, _, high = args.kill_every.partition(":")
    knobs = Knobs(
        seconds=args.seconds,
        clients=args.clients,
        products=args.products,
        seed=args.seed,
        kill_every=(float(low), float(high or low)),
        stall_seconds=args.stall_seconds,
        max_requests=args.max_requests,
    )
    verdict = run(knobs)
    print(verdict.report(), flush=True)
    print(f"chaos: {'PASSED' if verdict.passed else 'FAILED'}", flush=True)
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
