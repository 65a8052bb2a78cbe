"""The gateway's one template, rendered with the values compose and Kubernetes give it, passes `nginx -t`,
and the gateway image starts it the same way (render.sh, then nginx on the rendered file, non-root).

`nginx -t` resolves upstream host names, and `auth-1` or `auth-service` exist only inside compose's network
or the cluster. So each check first asserts that every upstream names a real compose service or Kubernetes
Service on the right port, then runs `nginx -t` on the same render with those hosts mapped to 127.0.0.1
(ports kept): the syntax and every directive are checked for real, and name resolution is checked against
the deployment files instead of this machine's DNS."""

import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import (
    APPS,
    ENV_DEV,
    GATEWAY_APP,
    NGINX_DIR,
    REPO_ROOT,
    SERVICE_PORT,
    dockerfile_instructions,
    exec_form,
    interpolate,
    load_compose,
    load_env_file,
    named,
    nginx,
    nginx_test,
    render_gateway,
    rendered_deployment,
)
from tests.support.certificates import self_signed

UPSTREAM_VARIABLES = [f"{name}_UPSTREAM_{index}" for name in ("AUTH", "PRODUCT", "ORDER") for index in (1, 2)]


def compose_gateway_env() -> dict[str, str]:
    """The gateway's environment in docker-compose.yml, interpolated with .env.dev."""
    environment: dict[str, Any] = load_compose()["services"]["gateway"]["environment"]
    dev = load_env_file(ENV_DEV)
    return {name: interpolate(str(value), dev) for name, value in environment.items()}


def kubernetes_gateway_env() -> dict[str, str]:
    """The gateway Deployment's environment, its ConfigMap references resolved."""
    manifests = rendered_deployment()
    config = named(manifests, "ConfigMap", "ecommerce-config")["data"]
    container = named(manifests, "Deployment", GATEWAY_APP)["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            env[variable["name"]] = config[variable["valueFrom"]["configMapKeyRef"]["key"]]
    return env


def image_env() -> dict[str, str]:
    """The ENV the gateway image sets (its defaults under compose's and Kubernetes' own values)."""
    env = {}
    for keyword, arguments in dockerfile_instructions(NGINX_DIR / "Dockerfile"):
        if keyword == "ENV":
            for pair in arguments.split():
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def loopback_upstreams(env: dict[str, str]) -> dict[str, str]:
    """The same environment with every upstream host mapped to 127.0.0.1, ports kept."""
    mapped = dict(env)
    for variable in UPSTREAM_VARIABLES:
        _, _, port = env[variable].rpartition(":")
        mapped[variable] = f"127.0.0.1:{port}"
    return mapped


def local_certificate(env: dict[str, str], directory: Path) -> dict[str, str]:
    """The same environment with its TLS files (a Secret mounted in the pod) replaced by throwaway ones."""
    certificate = self_signed(directory)
    return {
        **env,
        "GATEWAY_TLS_CERT_FILE": str(certificate.cert_file),
        "GATEWAY_TLS_KEY_FILE": str(certificate.key_file),
    }


def check_renders_and_passes_nginx_t(
    env: dict[str, str], tmp_path: Path, nginx_dir: Path = NGINX_DIR, *, resolve: bool = True
) -> str:
    """The rendered config's text; with `resolve`, also checked by `nginx -t` (which resolves upstream hosts)."""
    temp_dir = tmp_path / "nginx-temp"
    conf = temp_dir / "nginx.conf"
    rendered = render_gateway({**image_env(), **env, "NGINX_TEMP_DIR": str(temp_dir)}, conf, nginx_dir=nginx_dir)
    assert rendered.returncode == 0, rendered.stderr
    if resolve:
        checked = nginx_test(conf, tmp_path)
        assert checked.returncode == 0, checked.stderr
    # With the files it includes that render.sh wrote beside it (TLS, trusted proxies).
    return "\n".join(path.read_text() for path in sorted(temp_dir.glob("nginx.conf*")) if path.suffix == ".conf")


def upstream_servers(text: str) -> dict[str, list[str]]:
    """Each upstream block's `server` lines, by upstream name."""
    return {
        name: re.findall(r"^\s*server\s+[^;]+;", body, re.M)
        for name, body in re.findall(r"^\s*upstream\s+(\w+)\s*\{(.*?)\}", text, re.M | re.S)
    }


class TestCompose:
    def test_upstreams_are_the_replicas_compose_runs(self):
        env = compose_gateway_env()
        services = load_compose()["services"]
        for variable in UPSTREAM_VARIABLES:
            host, _, port = env[variable].rpartition(":")
            assert host in services, f"{variable}={env[variable]} names no compose service"
            assert int(port) == SERVICE_PORT
            assert services[host]["image"] == f"ecommerce/{host.rsplit('-', 1)[0]}-service:latest"
        assert sorted(env[variable] for variable in UPSTREAM_VARIABLES) == sorted(
            f"{name}-{index}:{SERVICE_PORT}" for name in ("auth", "product", "order") for index in (1, 2)
        )

    def test_nginx_accepts_the_rendered_config(self, tmp_path):
        text = check_renders_and_passes_nginx_t(loopback_upstreams(compose_gateway_env()), tmp_path)
        assert "listen 8080 default_server;" in text

    def test_a_dead_replica_is_skipped_but_a_ready_one_never_is(self, tmp_path):
        # One container per entry: passive failure marking skips a dead primary, and each replica is listed
        # again as a backup that is never skipped, for when both primaries are.
        env = compose_gateway_env()
        rendered = check_renders_and_passes_nginx_t(env, tmp_path, resolve=False)
        for name, lines in upstream_servers(rendered).items():
            primaries = [line for line in lines if " backup " not in line]
            backups = [line for line in lines if " backup " in line]
            replicas = [env[f"{name.upper()}_UPSTREAM_{index}"] for index in (1, 2)]
            assert [line.split()[1] for line in primaries] == replicas, (name, lines)
            assert [line.split()[1] for line in backups] == replicas, (name, lines)
            assert all(re.search(r"\bmax_fails=[1-9]", line) for line in primaries), (name, lines)
            assert all(re.search(r"\bmax_fails=0\b", line) for line in backups), (name, lines)


class TestKubernetes:
    def test_upstreams_are_the_services_of_the_cluster(self):
        env = kubernetes_gateway_env()
        manifests = rendered_deployment()
        for variable in UPSTREAM_VARIABLES:
            host, _, port = env[variable].rpartition(":")
            service = named(manifests, "Service", host)
            assert int(port) in [entry["port"] for entry in service["spec"]["ports"]]
            assert host in APPS.values()
            assert variable.split("_")[0].lower() == host.removesuffix("-service")

    def test_nginx_accepts_the_rendered_config(self, tmp_path):
        env = kubernetes_gateway_env()
        text = check_renders_and_passes_nginx_t(local_certificate(loopback_upstreams(env), tmp_path / "tls"), tmp_path)
        assert re.search(rf"listen {env['GATEWAY_TLS_PORT']} ssl( http2)? default_server;", text)
        assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
        assert "return 308 https://$host$request_uri;" in text  # port 80 -> 443: no port in the redirect
        assert f"rate={env['LOGIN_RATE_LIMIT']}r/m" in text
        assert f"zone=register:10m rate={env['REGISTER_RATE_LIMIT']}r/m" in text
        assert f"rate={env['API_RATE_LIMIT']}r/s" in text

    def test_one_pod_cannot_cut_the_gateway_off_its_service(self, tmp_path):
        # Each upstream entry is a ClusterIP in front of every pod: a failure marked on it is the whole service's.
        env = local_certificate(loopback_upstreams(kubernetes_gateway_env()), tmp_path / "tls")
        text = check_renders_and_passes_nginx_t(env, tmp_path)
        servers = upstream_servers(text)
        assert set(servers) == {"auth", "product", "order"}
        for name, lines in servers.items():
            assert all(re.search(r"\bmax_fails=0\b", line) for line in lines), (name, lines)

    def test_the_gateway_listens_where_its_probes_and_service_point(self):
        manifests = rendered_deployment()
        env = kubernetes_gateway_env()
        container = named(manifests, "Deployment", GATEWAY_APP)["spec"]["template"]["spec"]["containers"][0]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports == {"http": int(env["GATEWAY_PORT"]), "https": int(env["GATEWAY_TLS_PORT"])}
        service = {
            port["port"]: port["targetPort"] for port in named(manifests, "Service", GATEWAY_APP)["spec"]["ports"]
        }
        assert service == {80: "http", 443: "https"}
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert {str(Path(env[name]).parent) for name in ("GATEWAY_TLS_CERT_FILE", "GATEWAY_TLS_KEY_FILE")} <= mounts


def test_the_rendered_config_writes_only_under_the_temp_dir(tmp_path):
    # The image runs with a read-only root filesystem: nginx may write under NGINX_TEMP_DIR alone.
    text = check_renders_and_passes_nginx_t(loopback_upstreams(compose_gateway_env()), tmp_path)
    temp_dir = str(tmp_path / "nginx-temp")
    for directive, path in re.findall(r"^\s*(pid|\w+_temp_path|error_log|access_log)\s+(\S+?);?\s", text, re.M):
        assert path.startswith(temp_dir) or path in {"stderr", "/dev/stdout", "/dev/stderr", "off"}, directive


def test_a_broken_template_fails_nginx_t(tmp_path):
    broken = tmp_path / "nginx"
    shutil.copytree(NGINX_DIR, broken)
    template = broken / "nginx.conf.template"
    text = template.read_text()
    assert "worker_connections 1024;" in text
    template.write_text(text.replace("worker_connections 1024;", "worker_connections 1024", 1))
    temp_dir = tmp_path / "nginx-temp"
    conf = temp_dir / "nginx.conf"
    env = {**image_env(), **loopback_upstreams(compose_gateway_env()), "NGINX_TEMP_DIR": str(temp_dir)}
    assert render_gateway(env, conf, nginx_dir=broken).returncode == 0
    assert nginx_test(conf, tmp_path).returncode != 0


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A scratch directory an unprivileged user can enter (pytest's own tmp_path is root-only)."""
    with tempfile.TemporaryDirectory(prefix="gateway-image-") as name:
        path = Path(name)
        path.chmod(0o755)
        yield path


def test_the_image_starts_nginx_on_the_config_it_rendered_as_non_root(world_readable_dir):
    """The image's CMD, run here with its COPY destination mapped to a copy of nginx/ and `nginx` wrapped
    to add `-t`: render.sh must succeed and nginx must accept what it rendered, as an unprivileged user."""
    tmp_path = world_readable_dir
    instructions = dockerfile_instructions(NGINX_DIR / "Dockerfile")
    [copy] = [arguments for keyword, arguments in instructions if keyword == "COPY"]
    *sources, destination = copy.split()
    assert sorted(sources) == sorted(
        f"nginx/{path.name}" for path in NGINX_DIR.iterdir() if path.name not in {"Dockerfile", "README.md"}
    )
    [cmd] = [exec_form(arguments) for keyword, arguments in instructions if keyword == "CMD"]
    assert [arguments for keyword, arguments in instructions if keyword == "ENTRYPOINT"] == ["[]"]
    assert [arguments for keyword, arguments in instructions if keyword == "USER"] == ["101:101"]
    assert "daemon off;" in cmd[-1]

    image_dir = tmp_path / "image"
    image_dir.mkdir()
    for source in sources:
        shutil.copy(REPO_ROOT / source, image_dir)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "nginx"
    wrapper.write_text(f'#!/bin/sh\nexec {nginx()} -t -p "{tmp_path}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    # The container's writable /tmp (a tmpfs or emptyDir); everything else stays root-owned and read-only.
    (tmp_path / "tmp").mkdir()
    temp_dir = tmp_path / "tmp" / "nginx"
    command = [part.replace(destination.rstrip("/"), str(image_dir)) for part in cmd]
    env = {
        **image_env(),
        **loopback_upstreams(compose_gateway_env()),
        "NGINX_TEMP_DIR": str(temp_dir),
        "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/bin",
    }
    # nginx reopens /dev/stdout for its access log: give it files its user may open, as a runtime does.
    output, errors = tmp_path / "stdout", tmp_path / "stderr"
    output.touch()
    errors.touch()
    if os.geteuid() == 0:
        # As the image runs: not root (nobody here, uid 101 there).
        for owned in (tmp_path / "tmp", output, errors):
            os.chown(owned, 65534, 65534)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    with output.open("w") as stdout, errors.open("w") as stderr:
        started = subprocess.run(command, env=env, stdout=stdout, stderr=stderr, check=False, timeout=30)
    assert started.returncode == 0, errors.read_text()
    assert "test is successful" in errors.read_text()
    assert (temp_dir / "nginx.conf").exists()


def test_a_rate_limit_of_zero_is_off_however_it_is_written(tmp_path):
    # The template's maps turn a limit off when its value is the text 0; render.sh hands them plain numbers.
    env = {**loopback_upstreams(compose_gateway_env()), "LOGIN_RATE_LIMIT": "00", "API_RATE_LIMIT": "010"}
    text = check_renders_and_passes_nginx_t(env, tmp_path)
    assert re.search(r"map 0 \$login_limit_key", text)
    assert "zone=login:10m rate=1r/m;" in text  # the placeholder rate of a zone nothing is counted in
    assert re.search(r"map 10 \$api_limit_key", text)
    assert "zone=api:10m rate=10r/s;" in text  # 010 is ten, not octal eight


@pytest.mark.parametrize("variable", UPSTREAM_VARIABLES)
def test_render_refuses_a_missing_upstream(tmp_path, variable):
    env = {**image_env(), **loopback_upstreams(compose_gateway_env()), "NGINX_TEMP_DIR": str(tmp_path / "t")}
    del env[variable]
    assert render_gateway(env, tmp_path / "t" / "nginx.conf").returncode != 0


class TestRetryPolicy:
    """What nginx may send to the other replica, decided per route and method in the template."""

    def test_a_services_503_never_counts_as_a_replica_failure(self):
        text = (NGINX_DIR / "nginx.conf.template").read_text()
        policies = re.findall(r"^\s*proxy_next_upstream\s+([^;]+);", text, re.M)
        assert policies
        assert not [policy for policy in policies if "http_503" in policy]

    def test_only_replay_safe_posts_are_resent(self, tmp_path):
        text = check_renders_and_passes_nginx_t(loopback_upstreams(compose_gateway_env()), tmp_path)
        resent = re.findall(r"location\s+(?:=\s+)?(\S+)\s*\{[^}]*?proxy_next_upstream[^;]*non_idempotent", text, re.S)
        # Creating a product (= /api/v0/products), registering, refreshing, logging out: never resent.
        assert sorted(resent) == [
            "/_keyed_orders",
            "/api/v0/auth/login",
            "/api/v0/orders/",
            "/api/v0/products/",
            "/internal/",
        ]

    def test_the_resent_prefixes_route_no_other_post(self):
        # `location /api/v0/products/` and `/api/v0/orders/` resend POSTs: only replay-safe ones may live there.
        from order_service.routes import public as orders
        from product_service.routes import public as products

        def writes(router) -> list[str]:
            return sorted(
                f"{method} {route.path}" for route in router.routes for method in route.methods - {"GET", "HEAD"}
            )

        assert writes(products.router) == [
            "DELETE /api/v0/products/{product_id}",
            "PATCH /api/v0/products/{product_id}",
            "POST /api/v0/products",  # the exact location, which never resends
            "PUT /api/v0/products/{product_id}",
        ]
        assert writes(orders.router) == ["POST /api/v0/orders", "POST /api/v0/orders/{order_id}/cancel"]
