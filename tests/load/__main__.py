"""`make bench`: the load benchmarks (placeholder until the first one lands)."""


def main() -> None:
    print("no benchmarks yet")


if __name__ == "__main__":
    main()
