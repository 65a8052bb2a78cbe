"""Every container runs with its Kubernetes workload's restrictions, and everything a Deployment or Job names
(command, probe paths and ports, user id, environment variables) is something the image was just seen to
honour here. Kubernetes cannot run on this machine; this is the link between its manifests and real images."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compose.project import MIGRATIONS, REPLICAS, Compose, Container, inspect, run_in
from tests.deploy.support import APPS, GATEWAY_APP, objects_of, rendered_deployment

# Each compose service, by the Kubernetes workload that runs the same image with the same job.
WORKLOADS = {
    **{f"Deployment/{app}": f"{module.split('_')[0]}-1" for module, app in APPS.items()},
    **{f"Job/{app}-migrate": f"{module.split('_')[0]}-migrate" for module, app in APPS.items()},
    f"Deployment/{GATEWAY_APP}": "gateway",
    "StatefulSet/mysql": "mysql",
}


@pytest.fixture(scope="module")
def manifests() -> tuple[dict[str, Any], ...]:
    return rendered_deployment()


def workloads(manifests: tuple[dict[str, Any], ...]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(kind/name, pod spec, first container) of every workload of the deployment."""
    for kind in ("Deployment", "Job", "StatefulSet"):
        for workload in objects_of(manifests, kind):
            pod = workload["spec"]["template"]["spec"]
            yield f"{kind}/{workload['metadata']['name']}", pod, pod["containers"][0]


def test_every_workload_has_its_compose_service(manifests, compose: Compose) -> None:
    assert {name for name, _, _ in workloads(manifests)} == set(WORKLOADS)
    for service in WORKLOADS.values():
        compose.container(service)


@pytest.mark.parametrize("service", [*REPLICAS, *MIGRATIONS, "gateway", "mysql"])
def test_the_container_runs_restricted(service: str, compose: Compose) -> None:
    container = compose.container(service)
    config = container.host_config
    assert config["ReadonlyRootfs"] is True
    assert config["CapDrop"] == ["ALL"] and not config["CapAdd"]
    assert "no-new-privileges:true" in config["SecurityOpt"]
    assert "/tmp" in config["Tmpfs"]
    assert not config["Privileged"]


@pytest.mark.parametrize("service", [*REPLICAS, "gateway", "mysql"])
def test_the_process_has_no_capability_and_cannot_gain_one(service: str, compose: Compose) -> None:
    status = run_in(compose.container(service), ["cat", "/proc/1/status"])
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    for capabilities in ("CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(fields[capabilities], 16) == 0, (capabilities, fields[capabilities])
    assert fields["NoNewPrivs"].strip() == "1"


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_the_user_is_the_one_kubernetes_runs_as(name: str, manifests, compose: Compose) -> None:
    [(pod, container_spec)] = [(pod, spec) for found, pod, spec in workloads(manifests) if found == name]
    context = {**pod.get("securityContext", {}), **container_spec.get("securityContext", {})}
    container = compose.container(WORKLOADS[name])
    if container.state["Running"]:
        seen = run_in(container, ["id", "-u"]).strip(), run_in(container, ["id", "-g"]).strip()
    else:  # a migration that has finished: the user it ran as
        seen = tuple(container.facts["Config"]["User"].split(":"))
    assert seen == (str(context["runAsUser"]), str(context["runAsGroup"]))
    assert context["runAsNonRoot"] is True and seen[0] != "0"
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("name", [name for name in WORKLOADS if name.startswith("Job/")])
def test_the_job_command_ran_to_success_before_the_replicas(name: str, manifests, compose: Compose) -> None:
    [spec] = [spec for found, _, spec in workloads(manifests) if found == name]
    migration = compose.container(WORKLOADS[name])
    assert migration.facts["Config"]["Cmd"] == spec["command"]
    assert (migration.state["Status"], migration.state["ExitCode"]) == ("exited", 0)
    service = WORKLOADS[name].removesuffix("-migrate")
    for replica in (f"{service}-1", f"{service}-2"):
        assert compose.container(replica).moment("StartedAt") > migration.moment("FinishedAt")


@pytest.mark.parametrize("name", [name for name in WORKLOADS if name.startswith("Deployment/")])
def test_the_deployment_runs_what_the_container_runs(name: str, manifests, compose: Compose) -> None:
    [spec] = [spec for found, _, spec in workloads(manifests) if found == name]
    container = compose.container(WORKLOADS[name])
    assert spec["image"].split(":")[0] == container.facts["Config"]["Image"].split(":")[0]
    # Neither overrides the image's command: PID 1 runs the image's own ENTRYPOINT + CMD.
    assert "command" not in spec and "args" not in spec
    image = inspect(container.facts["Image"])["Config"]
    command = [*(image["Entrypoint"] or []), *image["Cmd"]]
    assert [*(container.facts["Config"]["Entrypoint"] or []), *container.facts["Config"]["Cmd"]] == command
    if command[:2] in (["/bin/sh", "-c"], ["/bin/sh", "-ec"]):
        # A shell that ends by exec-ing the server, so that the server is PID 1 and gets the stop signal.
        program = Path(run_in(container, ["readlink", "/proc/1/exe"]).strip()).name
        assert f"exec {program} " in command[2], (program, command)
    else:
        assert run_in(container, ["cat", "/proc/1/cmdline"]).rstrip("\0").split("\0") == command


def _ports(spec: dict[str, Any]) -> dict[str, int]:
    return {port.get("name", str(port["containerPort"])): port["containerPort"] for port in spec.get("ports", [])}


@pytest.mark.parametrize("name", [name for name in WORKLOADS if name.startswith("Deployment/")])
def test_every_probe_answers_where_the_deployment_asks(name: str, manifests, compose: Compose) -> None:
    [spec] = [spec for found, _, spec in workloads(manifests) if found == name]
    container = compose.container(WORKLOADS[name])
    ports = _ports(spec)
    exposed = {int(port.split("/")[0]) for port in container.facts["Config"]["ExposedPorts"]}
    probes = [spec[kind] for kind in ("startupProbe", "readinessProbe", "livenessProbe") if kind in spec]
    assert probes
    for probe in probes:
        get = probe["httpGet"]
        port = ports.get(str(get["port"]), get["port"])
        assert port in exposed, (port, exposed)
        # Asked as the kubelet would: on the container's own address, from outside it.
        response = httpx.get(f"http://{container.address}:{port}{get['path']}", timeout=5)
        assert response.status_code == 200, (get, response.text)
    pre_stop = spec.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    if pre_stop:
        assert run_in(container, ["sh", "-c", 'command -v "$0"', pre_stop[0]]).strip()


def honoured_variables(container: Container) -> set[str]:
    """The environment variables the image's own code reads: its settings' fields, or the gateway's template."""
    if container.service == "gateway":
        text = run_in(container, ["sh", "-c", "cat /etc/nginx/gateway/render.sh /etc/nginx/gateway/*.template"])
        return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))
    if container.service == "mysql":
        # Not our image: what compose gave it, which it was seen to honour (the services log in with them).
        return {entry.split("=", 1)[0] for entry in container.facts["Config"]["Env"]}
    module = f"{container.service.split('-')[0]}_service"
    code = f"import json, {module}.config as c; print(json.dumps(sorted(c.Settings.model_fields)))"
    return set(json.loads(run_in(container, ["python", "-c", code])))


def test_every_variable_a_workload_names_is_honoured_by_its_image(manifests, compose: Compose) -> None:
    config_keys: set[str] = set()
    honoured_somewhere: set[str] = set()
    for name, _, spec in workloads(manifests):
        container = compose.container(WORKLOADS[name].replace("-migrate", "-1"))
        honoured = honoured_variables(container)
        honoured_somewhere |= honoured
        named = {variable["name"] for variable in spec.get("env", [])}
        assert named <= honoured, f"{name}: {sorted(named - honoured)} are read by nothing in its image"
        for source in spec.get("envFrom", []):
            config_keys |= {source["configMapRef"]["name"]}
    [config] = [m for m in objects_of(manifests, "ConfigMap") if m["metadata"]["name"] in config_keys]
    # A shared ConfigMap: each key must be read by some image (the *_DB_USER keys feed DB_USER through env).
    unread = {key for key in config["data"] if key not in honoured_somewhere and not key.endswith("_DB_USER")}
    assert not unread, f"{sorted(unread)} in {config['metadata']['name']} are read by no image"


def test_the_database_server_takes_the_statefulsets_connection_limit(manifests, compose: Compose) -> None:
    [statefulset] = objects_of(manifests, "StatefulSet")
    args = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
    [limit] = [arg.split("=", 1)[1] for arg in args if arg.startswith("--max-connections=")]
    assert compose.sql("SELECT @@max_connections") == [[limit]]
