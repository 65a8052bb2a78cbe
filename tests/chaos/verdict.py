"""The drill's judgement, as strict as a client: any failed GET is a failure whatever its cause; a write that
got no usable answer is excused only if its first such attempt overlapped a kill of a service it depends on
(or, for an order, the stall), and only once a resend settled it; the stock invariant of API.md is exact."""

import statistics
from collections import Counter
from dataclasses import dataclass, field

from tests.chaos.journal import CANCEL, ORDER, REPLAY, RESTOCK, Call, Journal, Kill, Write
from tests.chaos.shoppers import Ledger

# Which services' deaths a write may honestly suffer from.
DEPENDS_ON = {
    ORDER: {"order", "product"},
    REPLAY: {"order", "product"},
    CANCEL: {"order", "product"},
    RESTOCK: {"product"},
}
STALL_ANSWER_SECONDS = 2.0
# How long the gateway skips a replica it failed to reach (UPSTREAM_FAIL_TIMEOUT): a kill this soon after the
# other replica of its service came back is the second of two deaths in a row.
SKIPPED_SECONDS = 2.0


@dataclass(frozen=True)
class Facts:
    """What the databases and the catalogue say once everything settled."""

    initial_stock: dict[int, int]
    final_stock: dict[int, int]
    confirmed: dict[int, int]  # product id -> quantity in confirmed orders' lines
    pending: int
    owed_releases: int
    statuses: dict[int, str]  # acknowledged order id -> its status now


@dataclass
class Verdict:
    rows: list[tuple[str, str, str, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(ok for *_, ok in self.rows)

    def check(self, what: str, measured: str, must_be: str, ok: bool) -> None:
        self.rows.append((what, measured, must_be, ok))

    def report(self) -> str:
        width = max(len(row[0]) for row in self.rows)
        lines = [f"{'what':{width}}  {'measured':>34}  {'must be':>30}  verdict"]
        for what, measured, must_be, ok in self.rows:
            lines.append(f"{what:{width}}  {measured:>34}  {must_be:>30}  {'ok' if ok else 'FAIL'}")
        return "\n".join([*lines, *self.notes])


def _overlaps_kill(call: Call, kind: str, journal: Journal) -> bool:
    """Whether a replica of a service the call depends on died while the call was in flight: between the
    signal and the moment the process was gone (its sockets closed), which takes a few milliseconds. A call
    begun once it was gone, however soon, meets a dead replica, which the gateway and the order service's
    product client must find out by themselves."""
    return any(
        call.started <= kill.over and kill.at <= call.ended and kill.program.rsplit("-", 1)[0] in DEPENDS_ON[kind]
        for kill in journal.kills
    )


def _in_stall(call: Call, journal: Journal) -> bool:
    return journal.stall is not None and call.started <= journal.stall[1] and call.ended >= journal.stall[0]


def _timing(call: Call, journal: Journal) -> str:
    nearest = min(journal.kills, key=lambda kill: abs(kill.at - call.started), default=None)
    near = (
        f", nearest kill {nearest.program} at {nearest.at - call.started:+.3f} s "
        f"(gone at {nearest.over - call.started:+.3f} s)"
        if nearest
        else ""
    )
    return f" after {call.seconds:.3f} s{near}"


def _excused(write: Write, journal: Journal) -> bool:
    first = write.failed_attempts[0]
    return _overlaps_kill(first, write.kind, journal) or (write.kind in (ORDER, REPLAY) and _in_stall(first, journal))


def judge(journal: Journal, ledger: Ledger, facts: Facts, *, problems: list[str]) -> Verdict:
    verdict = Verdict()
    for problem in problems:
        verdict.check("the drill ran as designed", problem, "no error", False)

    exact = [
        product
        for product, initial in facts.initial_stock.items()
        if facts.final_stock[product] == initial + ledger.restocked[product] - facts.confirmed.get(product, 0)
    ]
    products = len(facts.initial_stock)
    verdict.check(
        f"stock invariant of API.md, {products} products",
        f"exact on {len(exact)}/{products}",
        "exact",
        len(exact) == products,
    )
    for product in sorted(set(facts.initial_stock) - set(exact)):
        expected = facts.initial_stock[product] + ledger.restocked[product] - facts.confirmed.get(product, 0)
        verdict.notes.append(f"  product {product}: stock {facts.final_stock[product]}, invariant says {expected}")

    lost = [
        order_id
        for order_id, status in facts.statuses.items()
        if status != ("cancelled" if order_id in ledger.cancelled else "confirmed")
    ]
    verdict.check("acknowledged orders not as the client left them", str(len(lost)), "0", not lost)
    verdict.check("orders left pending after settling", str(facts.pending), "0", facts.pending == 0)
    verdict.check("releases still owed after settling", str(facts.owed_releases), "0", facts.owed_releases == 0)

    failed_reads = [call for call in journal.reads if call.status not in (200, 304)]
    verdict.check(
        "GETs answered other than 200",
        f"{len(failed_reads)} of {len(journal.reads):,}",
        "0",
        not failed_reads,
    )
    answers = Counter(f"{call.path} -> {call.status or 'no answer'} {call.code or ''}" for call in failed_reads)
    for path, count in answers.most_common(5):
        verdict.notes.append(f"  GET {path}: {count} times")

    for call in failed_reads[:5]:
        verdict.notes.append(
            f"  GET {call.path}: {call.status or 'no answer'} {call.code or ''}{_timing(call, journal)}"
        )

    failed = [write for write in journal.writes if write.failed_attempts]
    excused = [write for write in failed if _excused(write, journal)]
    unexcused = [write for write in failed if not _excused(write, journal)]
    verdict.check(
        "writes answered 5xx, or not at all",
        f"{len(failed):,} of {len(journal.writes):,}, {len(excused):,} at a kill/stall",
        "only those at a kill or the stall",
        not unexcused,
    )
    for write in unexcused[:5]:
        first = write.failed_attempts[0]
        verdict.notes.append(
            f"  {first.path}: {first.status or 'no answer'} {first.code or ''}{_timing(first, journal)}"
        )
    unsettled = [write for write in journal.writes if not write.settled]
    verdict.check("writes not settled by resending them", str(len(unsettled)), "0", not unsettled)
    verdict.notes.extend(f"  unexpected answer: {line}" for line in ledger.unexpected[:5])

    if journal.stall is not None:
        # A new placement's first attempt: resends of an earlier write wait for that write's fate instead.
        stalled = [
            write.attempts[0]
            for write in journal.writes
            if write.kind == ORDER
            and write.attempts
            and journal.stall[0] <= write.attempts[0].started <= journal.stall[1]
        ]
        prompt = [call for call in stalled if call.seconds <= STALL_ANSWER_SECONDS]
        refused = [call for call in stalled if call.status == 503]
        for call in sorted(stalled, key=lambda call: -call.seconds)[: len(stalled) - len(prompt)]:
            verdict.notes.append(f"  slow in the stall: {call.path} {call.status} after {call.seconds:.2f} s")
        verdict.check(
            f"order POSTs begun in the {journal.stall[1] - journal.stall[0]:.0f} s stall, answered within 2 s",
            f"{len(prompt)} of {len(stalled)} ({len(refused)} with 503)",
            "all",
            len(prompt) == len(stalled) and bool(stalled),
        )

    verdict.check("replicas killed", str(len(journal.kills)), "at least 1", bool(journal.kills))
    _describe(verdict, journal, ledger)
    return verdict


def _describe(verdict: Verdict, journal: Journal, ledger: Ledger) -> None:
    kinds = Counter(write.kind for write in journal.writes)
    verdict.notes.append(
        f"\n{journal.requests:,} requests: {len(journal.reads):,} reads; writes "
        + ", ".join(f"{kind} {kinds[kind]:,}" for kind in (ORDER, REPLAY, CANCEL, RESTOCK))
        + f"; {len(ledger.placed):,} orders acknowledged, {len(ledger.cancelled):,} cancelled, "
        f"{sum(ledger.restocked.values()):,} units restocked"
    )
    by_service: dict[str, list[Kill]] = {}
    for kill in journal.kills:
        by_service.setdefault(kill.program.rsplit("-", 1)[0], []).append(kill)
    for service, kills in sorted(by_service.items()):
        ready = [kill.ready_after for kill in kills if kill.ready_after is not None]
        spawned = [kill.spawned_after for kill in kills if kill.spawned_after is not None]
        gone = [kill.gone_after for kill in kills if kill.gone_after is not None]
        spread = (
            f"kill -> ready median {statistics.median(ready):.2f} s, max {max(ready):.2f} s "
            f"(-> gone median {statistics.median(gone) * 1000:.0f} ms, max {max(gone) * 1000:.0f} ms; "
            f"-> respawned median {statistics.median(spawned):.2f} s)"
            if ready
            else "never back"
        )
        in_a_row = _in_a_row(kills)
        verdict.notes.append(
            f"{service}: {len(kills)} killed, {in_a_row} within {SKIPPED_SECONDS:.0f} s of the other's return; {spread}"
        )


def _in_a_row(kills: list[Kill]) -> int:
    """Kills of a replica that came less than SKIPPED_SECONDS after the other replica of its service was ready
    again (`kills` are one service's)."""
    returns = [(kill.program, kill.at + kill.ready_after) for kill in kills if kill.ready_after is not None]
    return sum(
        any(program != kill.program and 0 <= kill.at - back < SKIPPED_SECONDS for program, back in returns)
        for kill in kills
    )
