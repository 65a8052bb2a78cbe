"""deployment/ as `kubectl apply -k deployment/` would apply it: it renders, every object is valid for a
pinned Kubernetes version, and the workloads follow the house rules (two replicas, probes, limits, a
locked-down securityContext, PDB + HPA + Service, migrations as Jobs, NetworkPolicies)."""

import copy
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service_kit.app import connections_per_replica
from service_kit.settings import ServiceSettings
from tests.deploy.support import (
    APPS,
    DEPLOYMENT_DIR,
    GATEWAY_APP,
    KUBERNETES_VERSION,
    MODULES,
    REPO_ROOT,
    SECRET_EXAMPLE,
    SERVICE_PORT,
    Manifest,
    deployment_problems,
    kustomize,
    named,
    objects_of,
    rendered_deployment,
    selector_matches,
)


@pytest.fixture(scope="module")
def manifests() -> tuple[Manifest, ...]:
    return rendered_deployment()


def _pod_specs(manifests: tuple[Manifest, ...]) -> list[tuple[str, dict[str, Any]]]:
    pods = []
    for manifest in manifests:
        if manifest["kind"] in {"Deployment", "StatefulSet", "Job"}:
            pods.append((f"{manifest['kind']} {manifest['metadata']['name']}", manifest["spec"]["template"]["spec"]))
    return pods


class TestRender:
    def test_kustomization_renders_every_workload(self, manifests):
        kinds = {(manifest["kind"], manifest["metadata"]["name"]) for manifest in manifests}
        for app in [*APPS.values(), GATEWAY_APP]:
            for kind in ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
                assert (kind, app) in kinds, f"{kind} {app} is missing"
        assert ("StatefulSet", "mysql") in kinds
        assert ("ConfigMap", "ecommerce-config") in kinds

    def test_the_secret_is_not_part_of_the_kustomization(self, manifests):
        # It is applied on its own from the git-ignored copy; rendering must not need it.
        assert objects_of(manifests, "Secret") == []

    def test_every_object_validates_against_the_pinned_schema(self, manifests):
        failures = []
        for manifest in [*manifests, yaml.safe_load(SECRET_EXAMPLE.read_text())]:
            try:
                kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(part) for part in exc.path)
                failures.append(f"{manifest['kind']} {manifest['metadata']['name']}: {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                failures.append(exc.message)
        assert failures == []


# The mysql-tls Secret holds a kubernetes.io/tls pair and its CA (docs/deployment.md).
MYSQL_TLS_KEYS = {"ca.crt", "tls.crt", "tls.key"}
TLS_KEYS = {"tls.crt", "tls.key"}  # a kubernetes.io/tls Secret's


class TestDeployments:
    def test_every_deployment_follows_the_house_rules(self, manifests):
        assert deployment_problems(manifests) == []

    def test_readiness_gives_up_well_inside_its_probe_timeout(self, manifests):
        # /readyz answers 503 after READY_TIMEOUT_SECONDS rather than letting the probe time out.
        from service_kit.health import READY_TIMEOUT_SECONDS

        for deployment in objects_of(manifests, "Deployment"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                timeout = container["readinessProbe"].get("timeoutSeconds", 1)
                assert timeout >= 2 * READY_TIMEOUT_SECONDS, deployment["metadata"]["name"]

    def test_every_deployment_has_a_pdb_an_hpa_and_a_service(self, manifests):
        for deployment in objects_of(manifests, "Deployment"):
            name = deployment["metadata"]["name"]
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            budgets = [
                pdb
                for pdb in objects_of(manifests, "PodDisruptionBudget")
                if selector_matches(pdb["spec"]["selector"], labels)
            ]
            assert [pdb["spec"].get("minAvailable") for pdb in budgets] == [1], name
            scalers = [
                hpa
                for hpa in objects_of(manifests, "HorizontalPodAutoscaler")
                if hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
            ]
            assert len(scalers) == 1, name
            assert scalers[0]["spec"]["minReplicas"] >= 2
            assert scalers[0]["spec"]["maxReplicas"] > scalers[0]["spec"]["minReplicas"]
            services = [
                service
                for service in objects_of(manifests, "Service")
                if selector_matches({"matchLabels": service["spec"]["selector"]}, labels)
            ]
            assert len(services) == 1, name

    def test_only_the_gateway_is_exposed_outside_the_cluster(self, manifests):
        types = {
            service["metadata"]["name"]: service["spec"].get("type", "ClusterIP")
            for service in objects_of(manifests, "Service")
        }
        assert types.pop(GATEWAY_APP) == "LoadBalancer"
        assert set(types.values()) == {"ClusterIP"}
        for app in APPS.values():
            port = named(manifests, "Service", app)["spec"]["ports"][0]
            assert port["port"] == SERVICE_PORT

    def test_services_reach_each_other_by_their_service_names(self, manifests):
        config = named(manifests, "ConfigMap", "ecommerce-config")["data"]
        for key in ("DB_HOST", "DB_PORT", "AUTH_DB_NAME", "PRODUCTS_DB_NAME", "ORDERS_DB_NAME"):
            assert config[key], key
        assert config["AUTH_SERVICE_URL"] == f"http://{APPS['auth_service']}:{SERVICE_PORT}"
        assert config["PRODUCT_SERVICE_URL"] == f"http://{APPS['product_service']}:{SERVICE_PORT}"
        assert config["DB_HOST"] == "mysql"
        assert config["APP_ENV"] == "prod"

    def test_every_referenced_config_and_secret_key_exists(self, manifests):
        config = named(manifests, "ConfigMap", "ecommerce-config")["data"]
        secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
        assert secret["metadata"]["name"] == "ecommerce-secret"
        for where, pod in _pod_specs(manifests):
            containers = pod["containers"] + pod.get("initContainers", [])
            for container in containers:
                for source in container.get("envFrom", []):
                    assert source["configMapRef"]["name"] == "ecommerce-config", where
                for variable in container.get("env", []):
                    reference = variable.get("valueFrom", {})
                    if "configMapKeyRef" in reference:
                        assert reference["configMapKeyRef"]["name"] == "ecommerce-config", where
                        assert reference["configMapKeyRef"]["key"] in config, f"{where}: {variable['name']}"
                    if "secretKeyRef" in reference:
                        assert reference["secretKeyRef"]["name"] == "ecommerce-secret", where
                        assert reference["secretKeyRef"]["key"] in secret["data"], f"{where}: {variable['name']}"
            for volume in pod.get("volumes", []):
                if "secret" not in volume:
                    continue
                known = {"ecommerce-secret": set(secret["data"]), "mysql-tls": MYSQL_TLS_KEYS, "gateway-tls": TLS_KEYS}
                assert volume["secret"]["secretName"] in known, where
                keys = known[volume["secret"]["secretName"]]
                for item in volume["secret"].get("items", []):
                    assert item["key"] in keys, where

    def test_mysql_takes_tls_connections_only_and_the_services_verify_it(self, manifests):
        config = named(manifests, "ConfigMap", "ecommerce-config")["data"]
        assert (config["DB_TLS"], config["DB_TLS_CA_FILE"]) == ("verify", "/etc/mysql-tls/ca.crt")
        mysql = named(manifests, "StatefulSet", "mysql")["spec"]["template"]["spec"]
        assert {"--require-secure-transport=ON", "--ssl-ca=/etc/mysql-tls/ca.crt"} <= set(
            mysql["containers"][0]["args"]
        )
        for where, pod in _pod_specs(manifests):
            if where.endswith("mysql") or "gateway" in where:
                continue
            [volume] = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "mysql-tls"]
            assert volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}], where  # never the key
            mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
            assert mounts[volume["name"]] == "/etc/mysql-tls", where

    def test_each_service_logs_in_as_its_own_database_user(self, manifests):
        config = named(manifests, "ConfigMap", "ecommerce-config")["data"]
        init_sql = (REPO_ROOT / "sql-scripts" / "init-db.sql").read_text()
        for module, app in APPS.items():
            prefix = module.removesuffix("_service").upper()
            env = {
                variable["name"]: variable
                for variable in named(manifests, "Deployment", app)["spec"]["template"]["spec"]["containers"][0]["env"]
            }
            assert env["DB_USER"]["valueFrom"]["configMapKeyRef"]["key"] == f"{prefix}_DB_USER"
            assert env["DB_PASS"]["valueFrom"]["secretKeyRef"]["key"] == f"{prefix}_DB_PASS"
            assert f"'{config[f'{prefix}_DB_USER']}'@'%'" in init_sql


class TestMigrations:
    @pytest.mark.parametrize("module", MODULES)
    def test_a_job_runs_the_services_prestart_with_its_image(self, manifests, module):
        app = APPS[module]
        job = named(manifests, "Job", f"{app}-migrate")
        deployment = named(manifests, "Deployment", app)
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", module, "prestart"]
        assert container["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        # One pod at a time; the advisory lock covers a second Job started by hand.
        assert job["spec"].get("parallelism", 1) == 1
        assert job["spec"].get("completions", 1) == 1
        assert job["spec"]["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False

    def test_the_images_are_the_ones_the_dockerfiles_build(self, manifests):
        images = {
            manifest["metadata"]["name"]: manifest["spec"]["template"]["spec"]["containers"][0]["image"]
            for manifest in objects_of(manifests, "Deployment")
        }
        assert images == {app: f"ecommerce/{app}:latest" for app in [*APPS.values(), GATEWAY_APP]}


class TestMySQL:
    def test_a_statefulset_with_a_volume_claim_and_probes(self, manifests):
        statefulset = named(manifests, "StatefulSet", "mysql")
        assert statefulset["spec"]["serviceName"] == "mysql"
        assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        [container] = statefulset["spec"]["template"]["spec"]["containers"]
        assert container["image"].startswith("mysql:8.")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, probe
        assert named(manifests, "Service", "mysql")["spec"]["clusterIP"] == "None"

    def test_max_connections_holds_every_pod_the_autoscalers_and_rollouts_may_run(self, manifests):
        assert _connection_budget(manifests) <= _max_connections(manifests)

    def test_the_init_configmap_holds_the_scripts_compose_mounts(self, manifests):
        statefulset = named(manifests, "StatefulSet", "mysql")
        pod = statefulset["spec"]["template"]["spec"]
        [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == "/docker-entrypoint-initdb.d"]
        [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        configmap = named(manifests, "ConfigMap", volume["configMap"]["name"])
        scripts = REPO_ROOT / "sql-scripts"
        assert configmap["data"] == {
            "init-db.sql": (scripts / "init-db.sql").read_text(),
            "service-passwords.sh": (scripts / "service-passwords.sh").read_text(),
        }
        # Sourced by the entrypoint, so it must not be executable.
        assert volume["configMap"]["defaultMode"] & 0o111 == 0


# Each migration Job opens one connection at a time; an operator's session, with one to spare.
MIGRATION_JOB_CONNECTIONS, OPERATOR_CONNECTIONS = 1, 2


def _max_connections(manifests: tuple[Manifest, ...] | list[Manifest]) -> int:
    [container] = named(manifests, "StatefulSet", "mysql")["spec"]["template"]["spec"]["containers"]
    [limit] = [arg.split("=", 1)[1] for arg in container["args"] if arg.startswith("--max-connections=")]
    return int(limit)


def _connection_budget(manifests: tuple[Manifest, ...] | list[Manifest]) -> int:
    """MySQL connections the deployment may hold at once: every service pod its autoscaler allows plus a
    rollout's surge, each with its pools full (`connections_per_replica` of the settings the pod gets), the
    migration Jobs and an operator."""
    config = named(manifests, "ConfigMap", "ecommerce-config")["data"]
    total = OPERATOR_CONNECTIONS + MIGRATION_JOB_CONNECTIONS * len(objects_of(manifests, "Job"))
    for app in APPS.values():
        deployment = named(manifests, "Deployment", app)
        [autoscaler] = [
            hpa
            for hpa in objects_of(manifests, "HorizontalPodAutoscaler")
            if hpa["spec"]["scaleTargetRef"]["name"] == app
        ]
        pods = autoscaler["spec"]["maxReplicas"] + deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        literal = {
            variable["name"]: variable["value"]
            for variable in deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])
            if "value" in variable
        }
        env, defaults = {**config, **literal}, ServiceSettings.model_construct()
        pod_settings = ServiceSettings.model_construct(
            DB_POOL_SIZE=int(env.get("DB_POOL_SIZE", defaults.DB_POOL_SIZE)),
            DB_MAX_OVERFLOW=int(env.get("DB_MAX_OVERFLOW", defaults.DB_MAX_OVERFLOW)),
        )
        total += pods * connections_per_replica(pod_settings)
    return total


def test_a_pool_or_an_autoscaler_grown_past_max_connections_is_caught() -> None:
    rendered = rendered_deployment()
    bigger_pools = list(copy.deepcopy(rendered))
    named(bigger_pools, "ConfigMap", "ecommerce-config")["data"]["DB_POOL_SIZE"] = "20"
    assert _connection_budget(bigger_pools) > _max_connections(rendered)
    more_pods = list(copy.deepcopy(rendered))
    for hpa in objects_of(more_pods, "HorizontalPodAutoscaler"):
        hpa["spec"]["maxReplicas"] = 10
    assert _connection_budget(more_pods) > _max_connections(rendered)


def _allows(policy_rules: list[dict[str, Any]], peer_labels: dict[str, str], port: int, direction: str) -> bool:
    for rule in policy_rules:
        peers = rule.get(direction)
        ports = rule.get("ports")
        if ports is not None and not any(p.get("port") == port for p in ports):
            continue
        if peers is None or any(
            "podSelector" in peer and selector_matches(peer["podSelector"], peer_labels) for peer in peers
        ):
            return True
    return False


def _can_connect(policies: list[Manifest], source: dict[str, str], target: dict[str, str], port: int) -> bool:
    """Whether NetworkPolicies let a pod labelled `source` open `port` on a pod labelled `target`."""
    egress = [
        p
        for p in policies
        if selector_matches(p["spec"]["podSelector"], source) and "Egress" in p["spec"]["policyTypes"]
    ]
    ingress = [
        p
        for p in policies
        if selector_matches(p["spec"]["podSelector"], target) and "Ingress" in p["spec"]["policyTypes"]
    ]
    out = not egress or any(_allows(p["spec"].get("egress", []), target, port, "to") for p in egress)
    into = not ingress or any(_allows(p["spec"].get("ingress", []), source, port, "from") for p in ingress)
    return out and into


class TestNetworkPolicies:
    ALLOWED = {
        ("gateway", "auth-service", SERVICE_PORT),
        ("gateway", "product-service", SERVICE_PORT),
        ("gateway", "order-service", SERVICE_PORT),
        ("product-service", "auth-service", SERVICE_PORT),
        ("order-service", "auth-service", SERVICE_PORT),
        ("order-service", "product-service", SERVICE_PORT),
        ("auth-service", "mysql", 3306),
        ("product-service", "mysql", 3306),
        ("order-service", "mysql", 3306),
        ("auth-service-migrate", "mysql", 3306),
        ("product-service-migrate", "mysql", 3306),
        ("order-service-migrate", "mysql", 3306),
    }

    def test_default_deny_both_ways(self, manifests):
        deny = named(manifests, "NetworkPolicy", "deny-all")
        assert deny["spec"]["podSelector"] == {}
        assert sorted(deny["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]

    def test_only_the_intended_paths_are_open(self, manifests):
        policies = objects_of(manifests, "NetworkPolicy")
        apps = ["gateway", *APPS.values(), *(f"{app}-migrate" for app in APPS.values()), "mysql"]
        opened = {
            (source, target, port)
            for source in apps
            for target in apps
            for port in (SERVICE_PORT, 3306, 8080)
            if source != target and _can_connect(policies, {"app": source}, {"app": target}, port)
        }
        assert opened == self.ALLOWED

    def test_every_pod_may_resolve_names(self, manifests):
        policies = objects_of(manifests, "NetworkPolicy")
        dns = [p for p in policies if p["spec"]["podSelector"] == {} and "egress" in p["spec"]]
        ports = {
            (port["protocol"], port["port"])
            for policy in dns
            for rule in policy["spec"]["egress"]
            for port in rule["ports"]
        }
        assert {("UDP", 53), ("TCP", 53)} <= ports

    def test_names_are_resolved_only_by_the_clusters_dns(self, manifests):
        # Port 53 open to anywhere would let a compromised pod carry data out to any server that listens there.
        cluster_dns = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
        for policy in objects_of(manifests, "NetworkPolicy"):
            for rule in policy["spec"].get("egress", []):
                if any(port.get("port") == 53 for port in rule.get("ports", [])):
                    assert rule.get("to") == [cluster_dns], policy["metadata"]["name"]

    def test_the_gateway_takes_traffic_from_anywhere_on_its_ports(self, manifests):
        gateway = named(manifests, "NetworkPolicy", "gateway")
        [rule] = gateway["spec"]["ingress"]
        assert "from" not in rule
        assert rule["ports"] == [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 8443}]

    def test_every_policy_selects_pods_that_exist(self, manifests):
        labels = [pod_labels for _, pod_labels in _pod_labels(manifests)]
        for policy in objects_of(manifests, "NetworkPolicy"):
            selector = policy["spec"]["podSelector"]
            assert selector == {} or any(selector_matches(selector, pod) for pod in labels), policy["metadata"]["name"]


def _pod_labels(manifests: tuple[Manifest, ...]) -> list[tuple[str, dict[str, str]]]:
    return [
        (manifest["metadata"]["name"], manifest["spec"]["template"]["metadata"]["labels"])
        for manifest in manifests
        if manifest["kind"] in {"Deployment", "StatefulSet", "Job"}
    ]


# --- The checks above must bite: each mutation of a copy of deployment/ makes deployment_problems speak.


def _copy_tree(tmp_path: Path) -> Path:
    """deployment/ and sql-scripts/ side by side, as in the repository (the kustomization reaches ../sql-scripts)."""
    shutil.copytree(DEPLOYMENT_DIR, tmp_path / "deployment", ignore=shutil.ignore_patterns("ecommerce-secret.yml"))
    shutil.copytree(REPO_ROOT / "sql-scripts", tmp_path / "sql-scripts")
    return tmp_path / "deployment"


def _mutate_deployment(path: Path, change: Any) -> None:
    documents = list(yaml.safe_load_all(path.read_text()))
    for document in documents:
        if document and document["kind"] == "Deployment":
            change(document)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def _container(deployment: Manifest) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


MUTATIONS = {
    "readiness probe deleted": lambda d: _container(d).pop("readinessProbe"),
    "liveness probe deleted": lambda d: _container(d).pop("livenessProbe"),
    "readiness probe on the wrong path": lambda d: _container(d)["readinessProbe"]["httpGet"].update(path="/healthz"),
    "replica count deleted": lambda d: d["spec"].pop("replicas"),
    "one replica": lambda d: d["spec"].update(replicas=1),
    "limits deleted": lambda d: _container(d)["resources"].pop("limits"),
    "root filesystem writable": lambda d: _container(d)["securityContext"].update(readOnlyRootFilesystem=False),
    "capabilities kept": lambda d: _container(d)["securityContext"].pop("capabilities"),
    "preStop pause deleted": lambda d: _container(d).pop("lifecycle"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_broken_deployment_is_caught(tmp_path, mutation):
    deployment_dir = _copy_tree(tmp_path)
    _mutate_deployment(deployment_dir / "product-service.yaml", MUTATIONS[mutation])
    problems = deployment_problems(kustomize(deployment_dir))
    assert problems, f"{mutation} went unnoticed"
    assert all("product-service" in problem for problem in problems)


def test_an_invalid_field_is_caught_by_the_schema(tmp_path):
    deployment_dir = _copy_tree(tmp_path)

    def misspell(deployment: Manifest) -> None:
        deployment["spec"]["replica"] = deployment["spec"].pop("replicas")

    _mutate_deployment(deployment_dir / "order-service.yaml", misspell)
    deployment = named(kustomize(deployment_dir), "Deployment", "order-service")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(copy.deepcopy(deployment), KUBERNETES_VERSION, strict=True)
