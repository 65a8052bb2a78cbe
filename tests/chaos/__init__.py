"""`make chaos`: the availability drill. Shoppers place, replay and cancel orders, restock and read through the
real gateway while replicas are SIGKILLed and the product service stalls; then the drill settles every write
and judges the fleet as strictly as a client would (see verdict.py for each rule)."""
