"""resource-sim with RESOURCES: several resources from one process; a bad list exits 2 with one line."""

import os
import signal
import subprocess

import pytest

from aggtest import REPO, wait_until
import requests

_build = os.environ.get("AGG_BUILD_DIR", "build")
EXE = os.path.join(_build if os.path.isabs(_build) else os.path.join(REPO, _build),
                   "resource-sim")


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("spec", ["x", "a=0", "a=70000", "a=5,a=6", "a=5,b=5", "a b=5",
                                  "a=5x"])
def test_bad_resource_list_exits_2_with_one_line(spec):
    env = dict(os.environ, RESOURCES=spec, LOG_LEVEL="error")
    r = subprocess.run([EXE], env=env, capture_output=True, timeout=20)
    assert r.returncode == 2, (spec, r.returncode, r.stderr)
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "RESOURCES" in lines[0], lines


def test_one_process_serves_every_resource_on_its_port():
    ports = [_free_port(), _free_port()]
    env = dict(os.environ, RESOURCES="res-a=%d,res-b=%d" % tuple(ports), BIND_ADDR="127.0.0.1")
    p = subprocess.Popen([EXE], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def up():
            try:
                return all(requests.get("http://127.0.0.1:%d/actuator/health/readiness" % port,
                                        timeout=1).status_code == 200 for port in ports)
            except requests.RequestException:
                return False
        wait_until(up, 20, "both listeners ready")
        for name, port in zip(("res-a", "res-b"), ports):
            r = requests.post("http://127.0.0.1:%d/journals/direct" % port,
                              json={"patientId": "p1", "delay": 0}, timeout=10)
            assert r.status_code == 200 and r.json()["source"] == name
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
