"""`make run` says where everything is, the metrics of each replica and the gateway's status included."""

from fleet.runner import _banner, local_config
from fleet.topology import replica_names


def test_make_run_says_where_each_replica_serves_its_metrics(tmp_path) -> None:
    config = local_config({"FLEET_STATE_DIR": str(tmp_path)})
    lines = _banner(config).splitlines()
    for replica in config.replicas:
        assert f"fleet: metrics   {replica.name:<10} http://{replica.address}/metrics" in lines
    assert {replica.name for replica in config.replicas} == set(replica_names())
    assert any(line.endswith(f"{config.internal_url}/gateway/status  (nginx stub_status)") for line in lines)
