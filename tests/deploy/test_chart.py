"""Chart unit tests: what helm/aggregator renders for each profile, and the values it refuses."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from chart import CHART_DIR, PROFILES, RenderError, render
from projectinfo import REPO, program_env_names, project_version


def profile_files(name):
    return tuple(os.path.join(CHART_DIR, f) for f in PROFILES[name])


@pytest.fixture(scope="module", params=sorted(PROFILES))
def profile(request):
    return request.param, render(values_files=profile_files(request.param))


def objects(docs, kind, component=None):
    found = [d for d in docs if d["kind"] == kind]
    if component is not None:
        found = [d for d in found
                 if d["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    return found


def one(docs, kind, component):
    found = objects(docs, kind, component)
    assert len(found) == 1, "%d %s of %s" % (len(found), kind, component)
    return found[0]


def config_of(docs, component):
    return one(docs, "ConfigMap", component)["data"]


def container(deployment):
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def port_number(c, name):
    return next(p["containerPort"] for p in c["ports"] if p["name"] == name)


# --- probes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("component,port_name,port_key", [
    ("gateway", "http", "SERVER_PORT"), ("worker", "management", "MANAGEMENT_PORT")])
def test_probes_use_the_actuator_paths_on_the_programs_port(profile, component, port_name, port_key):
    _, docs = profile
    c = container(one(docs, "Deployment", component))
    assert str(port_number(c, port_name)) == config_of(docs, component)[port_key]
    expected = {"startupProbe": "/actuator/health/liveness",
                "livenessProbe": "/actuator/health/liveness",
                "readinessProbe": "/actuator/health/readiness"}
    for probe, path in expected.items():
        assert c[probe]["httpGet"] == {"path": path, "port": port_name}, probe
        # A C service is ready in about 20 ms: no JVM-style start-up delay.
        assert c[probe]["initialDelaySeconds"] == 0, probe
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] <= 60


def test_web_runs_web_server_with_its_port_origins_and_health_probes():
    docs = render(values_files=profile_files("demo"),
                  set_values={"web.containerPort": "9082", "web.connectSrc": "https://api.example.org"})
    c = container(one(docs, "Deployment", "web"))
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {"WEB_PORT": "9082", "WEB_CONNECT_SRC": "https://api.example.org"}
    assert port_number(c, "http") == 9082
    binary = os.path.join(os.environ.get("AGG_BUILD_DIR") or os.path.join(REPO, "build"), "web-server")
    assert set(env) <= program_env_names(binary)
    assert c["livenessProbe"]["httpGet"] == {"path": "/actuator/health/liveness", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/actuator/health/readiness", "port": "http"}
    default = container(one(render(values_files=profile_files("demo")), "Deployment", "web"))
    assert [e["name"] for e in default["env"]] == ["WEB_PORT"]  # web-server's own default origins
    with pytest.raises(RenderError):  # a path or a wildcard would widen the page's policy
        render(values_files=profile_files("demo"), set_values={"web.connectSrc": "http://*:8080"})


def test_demo_components_have_probes():
    docs = render(values_files=profile_files("demo"))
    for d in objects(docs, "Deployment"):
        c = container(d)
        assert c["livenessProbe"]["httpGet"]["port"] == "http" or d["metadata"]["labels"][
            "app.kubernetes.io/component"] in ("gateway", "worker")
        assert "readinessProbe" in c


# --- autoscaling and budgets ----------------------------------------------------------------

def test_gateway_hpa_scales_3_to_10_on_cpu():
    docs = render()
    hpa = one(docs, "HorizontalPodAutoscaler", "gateway")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(docs, "Deployment", "gateway")["metadata"]["name"]
    metric = hpa["spec"]["metrics"][0]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    # The HPA owns the replica count: the Deployment must not fight it on every upgrade.
    assert "replicas" not in one(docs, "Deployment", "gateway")["spec"]


def test_gateway_hpa_adds_the_streams_metric_when_asked():
    docs = render(set_values={"gateway.autoscaling.targetStreamsPerPod": "5000"})
    metrics = one(docs, "HorizontalPodAutoscaler", "gateway")["spec"]["metrics"]
    pods = [m for m in metrics if m["type"] == "Pods"]
    assert pods and pods[0]["pods"]["metric"]["name"] == "sse_active_connections"


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_worker_scaling_never_exceeds_the_partitions(name):
    files = profile_files(name)
    docs = render(values_files=files)
    partitions = int(render_value(files, "kafka.topics.partitions"))
    hpa = objects(docs, "HorizontalPodAutoscaler", "worker")
    keda = objects(docs, "ScaledObject", "worker")
    dep = one(docs, "Deployment", "worker")
    if keda:
        assert not hpa, "KEDA replaces the HPA"
        assert keda[0]["spec"]["maxReplicaCount"] <= partitions
        groups = {t["metadata"]["consumerGroup"] for t in keda[0]["spec"]["triggers"]}
        assert groups == {"agg-workers.requests", "agg-workers.callbacks"}
    elif hpa:
        assert hpa[0]["spec"]["maxReplicas"] <= partitions
    else:
        assert dep["spec"]["replicas"] <= partitions


def test_keda_ceiling_defaults_to_the_partition_count():
    docs = render(set_values={"worker.keda.enabled": "true", "kafka.topics.partitions": "9"})
    assert one(docs, "ScaledObject", "worker")["spec"]["maxReplicaCount"] == 9
    assert not objects(docs, "HorizontalPodAutoscaler", "worker")


@pytest.mark.parametrize("component", ["gateway", "worker"])
def test_pdb_allows_one_pod_down_and_selects_the_deployments_pods(component):
    docs = render()
    pdb = one(docs, "PodDisruptionBudget", component)
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pod_labels = one(docs, "Deployment", component)["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_minimal_profile_has_no_autoscaler_budget_or_policy():
    kinds = {d["kind"] for d in render(values_files=profile_files("minimal"))}
    assert not kinds & {"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"}


# --- rollouts and shutdown ------------------------------------------------------------------

@pytest.mark.parametrize("component", ["gateway", "worker"])
def test_rolling_update_one_by_one_and_grace_longer_than_the_drain(profile, component):
    _, docs = profile
    spec = one(docs, "Deployment", component)["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}
    drain = int(config_of(docs, component)["SHUTDOWN_TIMEOUT_S"])
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > drain


def test_a_changed_configuration_rolls_the_pods():
    def checksum(docs):
        return one(docs, "Deployment", "gateway")["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"]
    assert checksum(render()) != checksum(render(set_values={"config.logLevel": "debug"}))


# --- security -------------------------------------------------------------------------------

def test_every_pod_is_locked_down(profile):
    _, docs = profile
    for d in objects(docs, "Deployment"):
        pod = d["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["privileged"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, "a read-only root needs a writable /tmp"
            assert "limits" in c["resources"] and "requests" in c["resources"]


def test_passwords_never_reach_a_configmap():
    docs = render(set_values={"redis.auth.enabled": "true", "redis.auth.password": "s3cr@t:/x",
                              "kafka.securityProtocol": "sasl_ssl", "kafka.sasl.username": "agg",
                              "kafka.sasl.password": "k4fk@pw"})
    for cm in objects(docs, "ConfigMap"):
        assert "s3cr@t" not in str(cm) and "k4fk@pw" not in str(cm)
    secrets = {s["metadata"]["name"]: s for s in objects(docs, "Secret")}
    assert len(secrets) == 3  # and the generated callback signing key
    env = {e["name"]: e for e in container(one(docs, "Deployment", "worker"))["env"]}
    for name in ("REDIS_PASSWORD", "KAFKA_SASL_PASSWORD", "CALLBACK_SIGNING_KEY"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] in secrets


def test_existing_secrets_are_referenced_not_created():
    docs = render(values_files=profile_files("production"))
    assert not objects(docs, "Secret")
    c = container(one(docs, "Deployment", "gateway"))
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]}
    assert env["REDIS_PASSWORD"] == {"name": "aggregator-redis", "key": "redis-password"}
    assert env["KAFKA_SASL_PASSWORD"] == {"name": "aggregator-kafka", "key": "kafka-password"}
    assert env["CALLBACK_SIGNING_KEY"] == {"name": "aggregator-callback-signing",
                                           "key": "callback-signing-key"}
    cfg = config_of(docs, "gateway")
    assert cfg["KAFKA_SECURITY_PROTOCOL"] == "sasl_ssl"
    assert cfg["KAFKA_SSL_CA_LOCATION"] == "/etc/aggregator/kafka-tls/ca.crt"
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/etc/aggregator/kafka-tls"]["readOnly"] is True
    auth = objects(docs, "TriggerAuthentication")
    assert auth and {p["parameter"] for p in auth[0]["spec"]["secretTargetRef"]} == {"password", "ca"}


def test_jwt_mode_mounts_the_key_secret_and_names_its_file():
    docs = render(set_values={"gateway.auth.mode": "jwt", "gateway.auth.existingSecret": "idp-jwks",
                              "gateway.auth.issuer": "https://idp.example",
                              "gateway.auth.audience": "aggregator"})
    cfg = config_of(docs, "gateway")
    assert cfg["AUTH_MODE"] == "jwt"
    assert cfg["JWT_JWKS_FILE"] == "/etc/aggregator/jwt/jwks.json"
    assert cfg["JWT_ISSUER"] == "https://idp.example" and cfg["JWT_AUDIENCE"] == "aggregator"
    assert "JWT_SECRET" not in cfg and "JWT_SECRET_FILE" not in cfg
    d = one(docs, "Deployment", "gateway")
    mounts = {m["mountPath"]: m for m in container(d)["volumeMounts"]}
    assert mounts["/etc/aggregator/jwt"]["readOnly"] is True
    vols = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
    assert vols[mounts["/etc/aggregator/jwt"]["name"]]["secret"]["secretName"] == "idp-jwks"
    # An HS256 secret is read from its file too, never put in the ConfigMap.
    docs = render(set_values={"gateway.auth.mode": "jwt", "gateway.auth.existingSecret": "hs",
                              "gateway.auth.keyType": "secret", "gateway.auth.secretKey": "key"})
    assert config_of(docs, "gateway")["JWT_SECRET_FILE"] == "/etc/aggregator/jwt/key"
    # The ServiceMonitor scrapes with the admin token of its Secret.
    docs = render(set_values={"gateway.auth.mode": "jwt", "gateway.auth.existingSecret": "k",
                              "metrics.serviceMonitor.enabled": "true",
                              "gateway.auth.scrapeTokenSecret": "scrape"})
    (endpoint,) = one(docs, "ServiceMonitor", "gateway")["spec"]["endpoints"]
    assert endpoint["authorization"] == {"type": "Bearer",
                                         "credentials": {"name": "scrape", "key": "token"}}
    # The default: no authentication, nothing mounted.
    docs = render()
    assert config_of(docs, "gateway")["AUTH_MODE"] == "none"
    assert "/etc/aggregator/jwt" not in {m["mountPath"] for m in
                                         container(one(docs, "Deployment", "gateway"))["volumeMounts"]}


def test_gateway_tls_secret_turns_on_https_everywhere_it_is_reached():
    docs = render(set_values={"gateway.tls.existingSecret": "gw-tls", "resourceSim.enabled": "true",
                              "metrics.serviceMonitor.enabled": "true"})
    cfg = config_of(docs, "gateway")
    assert cfg["TLS_CERT_FILE"] == "/etc/aggregator/tls/tls.crt"
    assert cfg["TLS_KEY_FILE"] == "/etc/aggregator/tls/tls.key"
    assert cfg["AGGREGATOR_CALLBACK_URL"].startswith("https://")
    gw = one(docs, "Deployment", "gateway")
    c = container(gw)
    assert {m["mountPath"]: m.get("readOnly") for m in c["volumeMounts"]}["/etc/aggregator/tls"] is True
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["scheme"] == "HTTPS", probe
    vols = {v["name"]: v for v in gw["spec"]["template"]["spec"]["volumes"]}
    assert vols["gateway-tls"]["secret"]["secretName"] == "gw-tls"
    # A resource gets the CA it verifies the callbacks with, never the gateway's key.
    for sim in objects(docs, "Deployment", "resource-sim"):
        env = {e["name"]: e.get("value") for e in container(sim)["env"]}
        assert env["CALLBACK_TLS_CA_FILE"] == "/etc/aggregator/tls/ca.crt"
        items = [v for v in sim["spec"]["template"]["spec"]["volumes"]
                 if v["name"] == "gateway-tls"][0]["secret"]["items"]
        assert [i["key"] for i in items] == ["ca.crt"]
    (ep,) = one(docs, "ServiceMonitor", "gateway")["spec"]["endpoints"]
    assert ep["scheme"] == "https" and ep["tlsConfig"]["ca"]["secret"] == {"name": "gw-tls",
                                                                           "key": "ca.crt"}
    # Without the Secret nothing of it shows.
    plain = render(set_values={"resourceSim.enabled": "true"})
    assert "TLS_CERT_FILE" not in config_of(plain, "gateway")
    assert "gateway-tls" not in str(plain) and "HTTPS" not in str(plain)


def test_images_follow_registry_tag_and_digest():
    docs = render(values_files=profile_files("production"))
    image = container(one(docs, "Deployment", "gateway"))["image"]
    assert re.fullmatch(r"registry\.hospital\.example/aggregator/gateway@sha256:[0-9a-f]{64}", image)
    image = container(one(docs, "Deployment", "worker"))["image"]
    assert image == "registry.hospital.example/aggregator/worker:" + chart_app_version()
    assert chart_app_version() == project_version()


# --- network isolation ----------------------------------------------------------------------

def policy_for(docs, component):
    return one(docs, "NetworkPolicy", component)


def rule_ports(rule):
    return {p["port"] for p in rule["ports"]}


def peer_components(rule, direction):
    return {p["podSelector"]["matchLabels"].get("app.kubernetes.io/component",
                                                p["podSelector"]["matchLabels"].get("aggregator/role"))
            for p in rule.get(direction, []) if "podSelector" in p and "namespaceSelector" not in p}


def test_resources_are_reachable_only_from_workers():
    docs = render(values_files=profile_files("demo"))
    np_ = policy_for(docs, "resource-sim")
    assert np_["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = np_["spec"]["ingress"]
    assert peer_components(rule, "from") == {"worker"}
    assert rule_ports(rule) == {8081}


def test_callbacks_reach_gateways_only_from_resources():
    docs = render(values_files=profile_files("demo"))
    cfg = config_of(docs, "gateway")
    ingress = policy_for(docs, "gateway")["spec"]["ingress"]
    callback = [r for r in ingress if rule_ports(r) == {int(cfg["CALLBACK_PORT"])}]
    assert len(callback) == 1 and peer_components(callback[0], "from") == {"resource-sim"}
    api = [r for r in ingress if int(cfg["CALLBACK_PORT"]) in rule_ports(r)]
    assert api == callback, "no other rule may open the callback port"
    assert cfg["AGGREGATOR_CALLBACK_URL"].endswith(":%s/aggregate/callback" % cfg["CALLBACK_PORT"])
    # The resource-sims' own egress reaches only the gateways' callback port (and DNS).
    egress = policy_for(docs, "resource-sim")["spec"]["egress"]
    assert [rule_ports(r) for r in egress if peer_components(r, "to") == {"gateway"}] == [
        {int(cfg["CALLBACK_PORT"])}]


def test_callback_port_is_closed_without_resources_and_open_to_callback_from():
    ingress = policy_for(render(), "gateway")["spec"]["ingress"]
    assert all(8086 not in rule_ports(r) for r in ingress)
    docs = render(values_files=profile_files("production"))
    (callback,) = [r for r in policy_for(docs, "gateway")["spec"]["ingress"] if 8086 in rule_ports(r)]
    assert callback["from"] == [{"ipBlock": {"cidr": "10.40.0.0/16"}}]


def test_kafka_and_redis_only_from_the_aggregators_pods():
    docs = render(values_files=profile_files("demo"))
    infra_ports = {9092, 9093, 6379}
    for component in ("resource-sim", "web"):
        for rule in policy_for(docs, component)["spec"]["egress"]:
            assert not rule_ports(rule) & infra_ports, component
    for component in ("gateway", "worker"):
        ports = set().union(*(rule_ports(r) for r in policy_for(docs, component)["spec"]["egress"]))
        assert infra_ports <= ports, component
    infra = {d["metadata"]["name"]: d for d in objects(docs, "NetworkPolicy")
             if d["metadata"]["name"].endswith(("-kafka-clients", "-redis-clients"))}
    assert len(infra) == 2
    for np_ in infra.values():
        (rule,) = np_["spec"]["ingress"]
        assert {"gateway", "worker"} <= peer_components(rule, "from")
        assert "resource-sim" not in peer_components(rule, "from")


def test_every_demo_pod_is_covered_by_a_policy_both_ways():
    docs = render(values_files=profile_files("demo"))
    policies = objects(docs, "NetworkPolicy")
    for d in objects(docs, "Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        covering = [p for p in policies
                    if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
        assert any(p["spec"]["policyTypes"] == ["Ingress", "Egress"] for p in covering), \
            d["metadata"]["name"]


# --- configuration --------------------------------------------------------------------------

@pytest.mark.parametrize("component", ["gateway", "worker"])
def test_every_configmap_key_is_a_variable_the_program_reads(profile, component):
    _, docs = profile
    names = set(config_of(docs, component))
    names |= {e["name"] for e in container(one(docs, "Deployment", component)).get("env", [])}
    binary = os.path.join(os.environ.get("AGG_BUILD_DIR") or os.path.join(REPO, "build"), component)
    unknown = names - program_env_names(binary)
    assert not unknown, "%s does not read %s" % (component, sorted(unknown))


def test_resource_urls_name_the_demo_services():
    docs = render(values_files=profile_files("demo"))
    urls = dict(entry.split("=", 1) for entry in config_of(docs, "worker")["RESOURCE_URLS"].split(","))
    services = {s["metadata"]["name"]: s for s in objects(docs, "Service")}
    assert sorted(urls) == ["resource-1", "resource-2", "resource-3"]
    for name, url in urls.items():
        host, port = re.fullmatch(r"http://([^.]+)\.[^:]+:(\d+)", url).groups()
        assert int(port) == services[host]["spec"]["ports"][0]["port"]
        dep = one(docs, "Deployment", name)
        env = {e["name"]: e["value"] for e in container(dep)["env"]}
        assert env["RESOURCE_ID"] == name


# --- values that are refused ----------------------------------------------------------------

BAD_VALUES = [
    ({"config.shutdownTimeoutSeconds": "40"},
     "set gateway.terminationGracePeriodSeconds=50"),
    ({"worker.terminationGracePeriodSeconds": "20"},
     "set worker.terminationGracePeriodSeconds=35"),
    ({"worker.autoscaling.maxReplicas": "8"},
     "Set worker.autoscaling.maxReplicas=6 or less"),
    ({"worker.autoscaling.enabled": "false", "worker.replicaCount": "7"},
     "Set worker.replicaCount=6 or less"),
    ({"worker.keda.enabled": "true", "worker.keda.maxReplicaCount": "7"},
     "Set worker.keda.maxReplicaCount=6 or less"),
    ({"gateway.autoscaling.minReplicas": "11"},
     "lower gateway.autoscaling.minReplicas"),
    ({"kafka.securityProtocol": "sasl_ssl", "kafka.sasl.password": "x"},
     "set kafka.sasl.username"),
    ({"kafka.securityProtocol": "sasl_plaintext", "kafka.sasl.username": "u"},
     "set kafka.sasl.existingSecret"),
    ({"kafka.tls.existingSecret": "t"}, "set kafka.securityProtocol=ssl or sasl_ssl"),
    ({"kafka.securityProtocol": "ssl", "kafka.tls.existingSecret": "t", "kafka.tls.certKey": "tls.crt"},
     "set both kafka.tls.certKey and kafka.tls.keyKey"),
    ({"redis.auth.enabled": "true"}, "set redis.auth.existingSecret"),
    ({"redis.tls.enabled": "true"}, "set redis.tls.enabled=false"),
    ({"callbackSigning.previousSecretKey": "old"}, "set callbackSigning.existingSecret"),
    ({"redis.sentinel.enabled": "true"}, "set redis.sentinel.hosts"),
    ({"redis.sentinel.enabled": "true", "redis.sentinel.hosts[0]": "s:26379", "redis.db": "1"},
     "set redis.db=0"),
    ({"redis.sentinel.enabled": "true", "redis.sentinel.hosts[0]": "s:26379",
      "redis.sentinel.auth.enabled": "true"}, "set redis.sentinel.auth.existingSecret"),
    ({"resources.list[0].name": "a", "resources.list[0].url": "https://a.example"},
     "set resources.callbackFrom"),
    ({"gateway.containerPorts.callback": "8080"}, "callbacks are isolated on their own port"),
    ({"gateway.timeoutDefaultMs": "30000"}, "is above the maximum, gateway.timeoutMaxMs"),
    ({"worker.extraConfig.KAFKA_BROKERS": "x:1"}, "remove it from worker.extraConfig"),
    ({"gateway.auth.mode": "jwt"}, "set gateway.auth.existingSecret"),
    ({"gateway.auth.mode": "jwt", "gateway.auth.existingSecret": "k",
      "metrics.serviceMonitor.enabled": "true"}, "set gateway.auth.scrapeTokenSecret"),
]


@pytest.mark.parametrize("values,message", BAD_VALUES, ids=[m for _, m in BAD_VALUES])
def test_bad_values_fail_with_the_fix(values, message):
    with pytest.raises(RenderError) as err:
        render(set_values=values)
    assert "VALUES VALIDATION" in err.value.stderr
    assert message in err.value.stderr


def test_every_failure_is_reported_at_once():
    with pytest.raises(RenderError) as err:
        render(set_values={"redis.tls.enabled": "true", "worker.autoscaling.maxReplicas": "9"})
    assert err.value.stderr.count("aggregator: ") == 2


SCHEMA_ERRORS = [
    ({"gatway.replicaCount": "2"}, "additional properties 'gatway' not allowed"),
    ({"kafka.securityProtocol": "tls"}, "value must be one of"),
    ({"gateway.service.type": "NodePort"}, "value must be one of"),
    ({"gateway.extraConfig.bad-name": "1"}, "does not match pattern"),
    ({"resources.list[0].name": "a", "resources.list[0].url": "ftp://x"}, "does not match pattern"),
    ({"kafka.topics.partitions": "0"}, "minimum"),
]


@pytest.mark.parametrize("values,message", SCHEMA_ERRORS, ids=[m for _, m in SCHEMA_ERRORS])
def test_schema_refuses_unknown_keys_and_bad_types(values, message):
    with pytest.raises(RenderError) as err:
        render(set_values=values)
    assert "values don't meet the specifications of the schema" in err.value.stderr
    assert message in err.value.stderr


def test_a_profile_values_file_is_valid_on_its_own():
    # NOTES.txt carries validateValues; a correct file must pass it in every profile.
    for name in PROFILES:
        render(values_files=profile_files(name))


# --- monitoring: alerts, scrape jobs, dashboard ----------------------------------------------

RULES_FILE = os.path.join(CHART_DIR, "files", "prometheus-rules.yaml")
DASHBOARD_FILE = os.path.join(CHART_DIR, "files", "grafana-dashboard.json")


def test_prometheusrule_is_the_rule_file():
    import yaml
    with open(RULES_FILE) as f:
        groups = yaml.safe_load(f)["groups"]
    (rule,) = objects(render(values_files=profile_files("production")), "PrometheusRule")
    assert rule["spec"]["groups"] == groups
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    alerts = {r["alert"] for g in groups for r in g["rules"]}
    assert {"HighErrorRate", "HighTimeoutRate", "SlowResponseTime"} <= alerts
    assert not objects(render(), "PrometheusRule")


def test_servicemonitors_give_the_jobs_the_rules_select():
    with open(RULES_FILE) as f:
        rules = f.read()
    docs = render(values_files=profile_files("production"))
    jobs = {}
    for component in ("gateway", "worker"):
        (endpoint,) = one(docs, "ServiceMonitor", component)["spec"]["endpoints"]
        (relabel,) = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
        assert relabel["action"] == "replace" and "sourceLabels" not in relabel
        jobs[component] = relabel["replacement"]
    assert jobs == {"gateway": "aggregator", "worker": "aggregator-worker"}
    for job in jobs.values():
        assert 'job="%s"' % job in rules


def test_grafana_dashboard_configmap_holds_the_dashboard_for_the_sidecar():
    import json
    assert not [d for d in objects(render(), "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    docs = render(values_files=profile_files("production"), set_values={"metrics.grafanaDashboard.namespace": "grafana"})
    (cm,) = [d for d in objects(docs, "ConfigMap") if d["metadata"]["name"] == "rel-aggregator-dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "grafana"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Aggregator"}
    with open(DASHBOARD_FILE) as f:
        assert json.loads(cm["data"]["aggregator.json"]) == json.load(f)


# --- the README's parameter table -----------------------------------------------------------

def test_readme_parameter_table_is_generated_from_values():
    tools = os.path.join(CHART_DIR, "..", "tools")
    generator = os.path.join(tools, "node_modules", ".bin", "readme-generator")
    assert os.path.exists(generator), "make deps-test installs helm/tools (npm ci)"
    with tempfile.TemporaryDirectory() as tmp:
        readme = os.path.join(tmp, "README.md")
        shutil.copy(os.path.join(CHART_DIR, "README.md"), readme)
        out = subprocess.run([generator, "--values", os.path.join(CHART_DIR, "values.yaml"),
                              "--readme", readme], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Metadata is correct" in out.stdout, "a value lacks its @param: " + out.stdout
        with open(readme) as a, open(os.path.join(CHART_DIR, "README.md")) as b:
            assert a.read() == b.read(), "README.md is stale: run make chart-readme"


# --- helpers --------------------------------------------------------------------------------

def chart_app_version():
    with open(os.path.join(CHART_DIR, "Chart.yaml")) as f:
        return re.search(r'^appVersion:\s*"?([^"\n]+)"?', f.read(), re.M).group(1)


def render_value(files, dotted):
    """A value as the chart sees it: the last profile file that sets it, else values.yaml."""
    import yaml
    value = None
    for f in (os.path.join(CHART_DIR, "values.yaml"),) + tuple(files):
        with open(f) as fh:
            node = yaml.safe_load(fh) or {}
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            value = node
    return value


# --- NOTES.txt ------------------------------------------------------------------------------

def render_notes(values_files=(), set_values=None, tmp_path=None):
    """NOTES.txt as helm renders it. helm template never prints NOTES.txt, so a copy of the chart
    wraps it in a define and renders that into a ConfigMap."""
    chart = os.path.join(str(tmp_path), "aggregator")
    shutil.copytree(CHART_DIR, chart)
    with open(os.path.join(chart, "templates", "NOTES.txt")) as f:
        notes = f.read()
    with open(os.path.join(chart, "templates", "_notes_under_test.tpl"), "w") as f:
        f.write('{{- define "notesUnderTest" -}}\n' + notes + '\n{{- end -}}\n')
    with open(os.path.join(chart, "templates", "notes-under-test.yaml"), "w") as f:
        f.write('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n'
                '  notes: {{ include "notesUnderTest" . | toJson }}\n')
    files = tuple(os.path.join(chart, os.path.relpath(p, CHART_DIR)) for p in values_files)
    docs = render(values_files=files, set_values=set_values, chart=chart)
    return next(d for d in docs if d["metadata"]["name"] == "notes")["data"]["notes"]


def test_notes_tell_how_to_reach_the_api_and_the_ui(tmp_path):
    notes = render_notes(profile_files("demo"), tmp_path=tmp_path)
    assert "rollout status deployment/rel-aggregator-gateway" in notes
    assert "port-forward svc/rel-aggregator-gateway 8080:8080" in notes
    assert "port-forward svc/rel-aggregator-web 8082:8082" in notes
    assert "resource-1=http://rel-aggregator-resource-1.ns.svc:8081" in notes
    assert "WARNING" not in notes
    assert "The callback port (8086) accepts only the demo resource-sims;" in notes


def test_notes_warn_when_no_resource_is_configured(tmp_path):
    notes = render_notes(tmp_path=tmp_path)
    assert "WARNING: no resource is configured" in notes
    assert "The callback port (8086) is closed to everyone" in notes


def test_notes_of_production_name_the_load_balancer_and_the_worker_ceiling(tmp_path):
    notes = render_notes(profile_files("production"), tmp_path=tmp_path)
    assert "status.loadBalancer.ingress" in notes
    assert "Workers scale up to 12" in notes and "must have 12 partitions each" in notes


def test_a_bad_values_file_fails_with_every_fix():
    with pytest.raises(RenderError) as err:
        render(values_files=(os.path.join(REPO, "tests", "deploy", "testdata", "bad-values.yaml"),))
    for fix in ("set gateway.terminationGracePeriodSeconds=50", "set worker.terminationGracePeriodSeconds=50",
                "Set worker.autoscaling.maxReplicas=3 or less", "set kafka.sasl.username",
                "set kafka.sasl.existingSecret", "set redis.auth.existingSecret", "set resources.callbackFrom"):
        assert fix in err.value.stderr, fix
    assert err.value.stderr.count("aggregator: ") == 7


def test_redis_through_sentinel():
    docs = render(values_files=profile_files("production"))
    for component in ("gateway", "worker"):
        cfg = config_of(docs, component)
        assert "REDIS_URL" not in cfg, "the programs refuse REDIS_URL with REDIS_SENTINELS"
        assert len(cfg["REDIS_SENTINELS"].split(",")) == 3 and cfg["REDIS_MASTER_NAME"] == "aggregator"
        env = {e["name"]: e for e in container(one(docs, "Deployment", component))["env"]}
        assert env["REDIS_SENTINEL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "aggregator-redis", "key": "sentinel-password"}
        ports = set().union(*(rule_ports(r) for r in policy_for(docs, component)["spec"]["egress"]))
        assert {6379, 26379} <= ports


def test_silent_connections_are_cut_after_tcp_user_timeout():
    docs = render(set_values={"config.tcpUserTimeoutMs": "5000"})
    assert {config_of(docs, c)["TCP_USER_TIMEOUT_MS"] for c in ("gateway", "worker")} == {"5000"}


def test_cpu_sched_policy_is_batch_unless_set_to_normal():
    assert {config_of(render(), c)["CPU_SCHED_POLICY"] for c in ("gateway", "worker")} == {"batch"}
    docs = render(set_values={"config.cpuSchedPolicy": "normal"})
    assert {config_of(docs, c)["CPU_SCHED_POLICY"] for c in ("gateway", "worker")} == {"normal"}


def test_callback_signing_key_is_generated_once_and_shared_by_gateways_and_workers():
    import base64
    docs = render()
    [secret] = [s for s in objects(docs, "Secret")
                if s["metadata"]["name"] == "rel-aggregator-callback-signing"]
    key = base64.b64decode(secret["data"]["callback-signing-key"])
    assert len(key) >= 32  # the programs refuse a shorter one
    for component in ("gateway", "worker"):
        env = {e["name"]: e for e in container(one(docs, "Deployment", component))["env"]}
        assert env["CALLBACK_SIGNING_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": secret["metadata"]["name"], "key": "callback-signing-key"}
        assert "CALLBACK_SIGNING_KEY_PREVIOUS" not in env
    # The chart's template keeps the last release's key (lookup): an upgrade voids no capability.
    with open(os.path.join(CHART_DIR, "templates", "common", "secret.yaml")) as f:
        assert 'lookup "v1" "Secret"' in f.read()


def test_callback_signing_rotation_takes_the_previous_key_from_the_existing_secret():
    docs = render(set_values={"callbackSigning.existingSecret": "sign",
                              "callbackSigning.secretKey": "new",
                              "callbackSigning.previousSecretKey": "old"})
    assert not [s for s in objects(docs, "Secret") if "callback-signing" in s["metadata"]["name"]]
    for component in ("gateway", "worker"):
        env = {e["name"]: e for e in container(one(docs, "Deployment", component))["env"]}
        assert env["CALLBACK_SIGNING_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "sign",
                                                                          "key": "new"}
        assert env["CALLBACK_SIGNING_KEY_PREVIOUS"]["valueFrom"]["secretKeyRef"] == {
            "name": "sign", "key": "old"}
