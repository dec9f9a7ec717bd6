"""docker-compose.yml checked offline: compose's schema (manifestcheck compose), and every name it uses against the
project: environment names the programs read (their --help), Dockerfiles, image tags, health checks, start order,
callback and resource URLs, the operations guide's ports. Each check also runs on a broken copy."""

import copy
import json
import os
import re
from urllib.parse import urlsplit

import pytest
import yaml

import chart
from projectinfo import help_env_names, program_env_names, project_version

COMPOSE_FILE = os.path.join(chart.REPO, "docker-compose.yml")
# The images of the C programs: they print their environment in --help.
PROGRAMS = ("gateway", "worker", "resource-sim", "web")
BINARIES = {"web": "web-server"}  # the program an image runs, where it is not the image's name
OUR_IMAGE = re.compile(r"^aggregator/(?P<prog>[a-z-]+):(?P<tag>.+)$")
# Host ports of the operations guide (shared/seed/DEPLOYMENT.md, "Ports"), by program.
GUIDE_PORTS = {"gateway": {"8080"}, "web": {"8082"}, "resource-sim": {"8081", "8083", "8084"}}

def summarize(path, manifestcheck_bin):
    proc = chart.manifestcheck("compose", path, binary=manifestcheck_bin)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["services"]


def program_of(service):
    m = OUR_IMAGE.match(service["image"])
    return m.group("prog") if m else None


def services_of(services, prog):
    return {name: s for name, s in services.items() if program_of(s) == prog}


@pytest.fixture(scope="module")
def services(manifestcheck_bin):
    return summarize(COMPOSE_FILE, manifestcheck_bin)


@pytest.fixture(scope="module")
def env_names():
    """{program: names its --help lists}, from the binaries of AGG_BUILD_DIR (else build/)."""
    build = os.environ.get("AGG_BUILD_DIR") or os.path.join(chart.REPO, "build")
    names = {}
    for prog in PROGRAMS:
        binary = os.path.join(build, BINARIES.get(prog, prog))
        if not os.access(binary, os.X_OK):
            pytest.fail(f"{binary} is missing: build the programs first (make build-asan), or set AGG_BUILD_DIR")
        names[prog] = program_env_names(binary)
    return names


# --- the checks: each returns its problems, so that the tests can run it on broken input too ---

def env_problems(services, env_names):
    problems = []
    for name, s in services.items():
        prog = program_of(s)
        if prog is None:
            continue
        known = env_names.get(prog, set())
        problems += [f"{name}: {var} is not read by {prog}" for var in sorted(s["environment"] or {}) if var not in known]
    return problems


def image_problems(services, version):
    problems = []
    for name, s in services.items():
        m = OUR_IMAGE.match(s["image"])
        if s["build"] is not None or m:
            if not m or m.group("tag") != version:
                problems.append(f"{name}: image {s['image']!r} is not aggregator/<program>:{version}")
            elif s["build"] is None or s["build"]["dockerfile"] != f"{m.group('prog')}/Dockerfile":
                problems.append(f"{name}: builds {s['build']} instead of {m.group('prog')}/Dockerfile")
            continue
        repo, _, tag = s["image"].rpartition(":")
        if not repo or "/" in tag or not re.fullmatch(r"\d+(\.\d+)+", tag):
            problems.append(f"{name}: external image {s['image']!r} has no pinned version tag")
    return problems


def one_shot_jobs(services):
    """Services that others wait for to complete (e.g. the topics' creation), not to be healthy."""
    return {dep for s in services.values() for dep, cond in s["depends_on"].items()
            if cond == "service_completed_successfully"}


def healthcheck_problems(services):
    """Every service has a health check but a one-shot job."""
    jobs = one_shot_jobs(services)
    return [f"{name}: no healthcheck" for name, s in services.items() if not s["healthcheck"] and name not in jobs]


def start_order_problems(services):
    jobs = one_shot_jobs(services)

    def servers(image_prefix):
        return [n for n, s in services.items() if s["image"].startswith(image_prefix) and n not in jobs]
    backing = {"kafka": servers("apache/kafka:"), "redis": servers("redis:")}
    problems = [f"no {what} service" for what, names in backing.items() if len(names) != 1]
    for name, s in services.items():
        if program_of(s) not in ("gateway", "worker"):
            continue
        for names in backing.values():
            for dep in names:
                if s["depends_on"].get(dep) != "service_healthy":
                    problems.append(f"{name}: does not wait for {dep} to be healthy")
    return problems


def url_problems(services):
    """Callbacks go to a name only gateways answer to; RESOURCE_URLS are the resource-sims, by their RESOURCE_ID."""
    problems = []
    gateways, resources = services_of(services, "gateway"), services_of(services, "resource-sim")
    gateway_names = set(gateways)
    for alias in {a for s in gateways.values() for aliases in s["networks"].values() for a in aliases}:
        holders = {n for n, s in services.items() for aliases in s["networks"].values() if alias in aliases}
        if holders <= set(gateways):
            gateway_names.add(alias)
    if not gateways or not resources:
        return ["no gateway or no resource-sim service"]
    for name, s in gateways.items():
        env = s["environment"] or {}
        callback = urlsplit(env.get("AGGREGATOR_CALLBACK_URL") or "")
        if callback.hostname not in gateway_names or str(callback.port) != env.get("SERVER_PORT", "8080"):
            problems.append(f"{name}: AGGREGATOR_CALLBACK_URL {callback.geturl()!r} does not reach a gateway")
    for name, s in {**gateways, **services_of(services, "worker")}.items():
        entries = dict(e.split("=", 1) for e in (s["environment"] or {}).get("RESOURCE_URLS", "").split(",") if e)
        for rname, res in resources.items():
            renv = res["environment"] or {}
            want = f"http://{rname}:{renv.get('SERVER_PORT', '8081')}"
            if entries.get(renv.get("RESOURCE_ID", "resource-1")) != want:
                problems.append(f"{name}: RESOURCE_URLS {entries} lacks {renv.get('RESOURCE_ID')}={want}")
        if len(entries) != len(resources):
            problems.append(f"{name}: RESOURCE_URLS names {len(entries)} resources, compose runs {len(resources)}")
    return problems


def port_problems(services):
    problems = []
    for prog, ports in GUIDE_PORTS.items():
        published = {p["published"] for s in services_of(services, prog).values() for p in s["ports"] or []}
        problems += [f"{prog}: host port {p} of the guide is not published" for p in sorted(ports - published)]
    return problems


def hardening_problems(services):
    want = {"read_only": True, "user": "10001:10001", "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"],
            "tmpfs": ["/tmp"]}
    return [f"{name}: {key} is {s[key]!r}, not {value!r}" for name, s in services.items() if program_of(s)
            for key, value in want.items() if s[key] != value]


# --- the file as it is ---

def test_compose_file_loads(services):
    assert {program_of(s) for s in services.values()} >= {*PROGRAMS, "web"}
    assert len(services_of(services, "gateway")) == 2 and len(services_of(services, "worker")) == 2
    assert len(services_of(services, "resource-sim")) == 3


def test_environment_names_are_read_by_the_programs(services, env_names):
    assert env_problems(services, env_names) == []


def test_images_and_dockerfiles(services):
    assert image_problems(services, project_version()) == []
    dockerfiles = {os.path.join(s["build"]["context"], s["build"]["dockerfile"]) for s in services.values() if s["build"]}
    assert sorted(f for f in dockerfiles if not os.path.isfile(f)) == []


def probe_problems(compose_text, dockerfile_text_of):
    """A health check of one of our services must use the probe client its image ships: the one
    its Dockerfile's HEALTHCHECK runs (busybox wget or curl)."""
    problems = []
    for name, svc in (yaml.safe_load(compose_text).get("services") or {}).items():
        m = OUR_IMAGE.match(str(svc.get("image", "")))
        test = (svc.get("healthcheck") or {}).get("test")
        if not m or not test:
            continue
        client = test[1] if test[0] == "CMD" else test[1].split()[0]
        healthcheck = re.search(r"^HEALTHCHECK .*?CMD\s+(\S+)", dockerfile_text_of(m.group("prog")), re.M | re.S)
        if not healthcheck or healthcheck.group(1) != client:
            problems.append(f"{name}: probes with {client}, its image's HEALTHCHECK uses "
                            f"{healthcheck.group(1) if healthcheck else 'nothing'}")
    return problems


def dockerfile_text(prog):
    with open(os.path.join(chart.REPO, prog, "Dockerfile")) as f:
        return f.read()


def test_health_checks_use_the_images_probe_client():
    with open(COMPOSE_FILE) as f:
        text = f.read()
    assert probe_problems(text, dockerfile_text) == []
    broken = text.replace('"busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080',
                          '"curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080')
    assert broken != text
    assert probe_problems(broken, dockerfile_text) == [
        f"{name}: probes with curl, its image's HEALTHCHECK uses busybox"
        for name in ("aggregator", "aggregator-2")]


def test_every_service_has_a_healthcheck(services):
    assert healthcheck_problems(services) == []


def test_start_order(services):
    assert start_order_problems(services) == []


def test_callback_and_resource_urls(services):
    assert url_problems(services) == []


def test_guide_ports_are_published(services):
    assert port_problems(services) == []


def test_our_containers_are_hardened(services):
    assert hardening_problems(services) == []


# --- the checks refuse broken copies ---

def test_help_parser_takes_names_not_values():
    text = ("Usage: x\n\nEnvironment (defaults in brackets):\n  SERVER_PORT [8080], BIND_ADDR [0.0.0.0]\n"
            "  RESOURCES: id=port\n  SHUTDOWN_TIMEOUT_S [25]: on SIGTERM (readiness DOWN, new\n"
            "  KAFKA_BROKERS (required), KAFKA_TOPIC_REQUESTS [agg.requests]\n"
            "  KAFKA_BROKERS                host:port (ERROR, CONNECTION_CLOSED)\n")
    assert help_env_names(text) == {"SERVER_PORT", "BIND_ADDR", "RESOURCES", "SHUTDOWN_TIMEOUT_S", "KAFKA_BROKERS",
                                    "KAFKA_TOPIC_REQUESTS"}


def test_help_names_cover_the_documented_variables(env_names):
    """docs/configuration.md's table of each program names only variables its --help lists (and so the parser finds)."""
    with open(os.path.join(chart.REPO, "docs", "configuration.md")) as f:
        sections = re.split(r"^## ", f.read(), flags=re.M)
    for prog in PROGRAMS:
        (section,) = [sec for sec in sections if sec.startswith(BINARIES.get(prog, prog) + "\n")]
        documented = {name for first_cell in re.findall(r"^\| ([^|]+) \|", section, re.M)
                      for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell)}
        assert documented and documented <= env_names[prog], (prog, documented - env_names[prog])


def test_a_misspelt_environment_name_is_refused(manifestcheck_bin, env_names, tmp_path):
    with open(COMPOSE_FILE) as f:
        text = f.read()
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("REDIS_URL:", "REDIS_ULR:", 1))
    problems = env_problems(summarize(str(broken), manifestcheck_bin), env_names)
    assert problems and all("REDIS_ULR is not read by" in p for p in problems)


def test_a_schema_error_is_refused(manifestcheck_bin, tmp_path):
    with open(COMPOSE_FILE) as f:
        text = f.read()
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("healthcheck:", "helthcheck:", 1))
    proc = chart.manifestcheck("compose", str(broken), binary=manifestcheck_bin)
    assert proc.returncode == 1 and "helthcheck" in proc.stderr, proc.stderr


def test_the_other_checks_refuse_broken_services(services):
    def broken(edit):
        copied = copy.deepcopy(services)
        edit(copied)
        return copied

    gateway = next(iter(services_of(services, "gateway")))
    worker = next(iter(services_of(services, "worker")))
    resource = next(iter(services_of(services, "resource-sim")))
    kafka = next(n for n, s in services.items() if s["image"].startswith("apache/kafka:") and s["healthcheck"])
    version = project_version()

    def set_image(name, image):
        return lambda c: c[name].update(image=image)

    assert image_problems(broken(set_image(gateway, "aggregator/gateway:latest")), version)
    assert image_problems(broken(set_image(kafka, "apache/kafka:latest")), version)
    assert image_problems(broken(set_image(kafka, "apache/kafka")), version)
    assert healthcheck_problems(broken(lambda c: c[worker].update(healthcheck=False)))
    assert start_order_problems(broken(lambda c: c[worker]["depends_on"].pop(kafka)))
    assert start_order_problems(broken(lambda c: c[gateway]["depends_on"].update({kafka: "service_started"})))

    def callback_to(url):
        return lambda c: c[gateway]["environment"].update(AGGREGATOR_CALLBACK_URL=url)
    assert url_problems(broken(callback_to(f"http://{resource}:8081/aggregate/callback")))
    assert url_problems(broken(callback_to("http://gateway:9999/aggregate/callback")))
    assert url_problems(broken(lambda c: c[worker]["environment"].update(RESOURCE_URLS="resource-1=http://x:8081")))
    assert port_problems(broken(lambda c: c[resource].update(ports=[])))
    assert hardening_problems(broken(lambda c: c[worker].update(read_only=False)))


# The operations guide's troubleshooting commands name these services (`docker-compose logs
# aggregator | grep "SSE"`, `docker-compose exec aggregator env | grep CALLBACK`,
# `docker-compose logs resource1 | grep "Processing"`): they must work unchanged.
GUIDE_SERVICES = {"aggregator": "gateway", "resource1": "resource-sim"}


def test_the_guides_service_names_exist(services):
    assert {name: program_of(services[name]) for name in GUIDE_SERVICES if name in services} \
        == GUIDE_SERVICES
