"""Secrets never shown: each program started with known secret values (from variables and from
_FILE files) at LOG_LEVEL=debug, after real work, has none of them in its log, its
/actuator/configprops, its --help, or the line of a configuration error."""

import os
import subprocess
import tempfile

import requests

from aggtest import check_session_events, post_journals, read_stream, wait_until
from privateproc import PrivateProc, PrivateRedis, private_topics

import stack as stackmod  # privateproc put demo/ on the path

REDIS_SECRET = "Rds-s3cret:@/x9"
PATIENT_KEY = "Pk-s3cret-0123456789"
SASL_SECRET = "Sasl-s3cret-77"
SECRETS = [REDIS_SECRET, PATIENT_KEY, SASL_SECRET]


def secret_file(value):
    fd, path = tempfile.mkstemp(prefix="agg-secret-")
    os.write(fd, (value + "\n").encode())
    os.close(fd)
    return path


def assert_clean(what, text):
    for s in SECRETS:
        assert s not in text, "a secret in %s" % what


def test_no_secret_in_logs_configprops_or_help(stack):
    red = PrivateRedis(stack, "--requirepass", REDIS_SECRET)
    rfile, kfile = secret_file(REDIS_SECRET), secret_file(PATIENT_KEY)
    procs = []
    try:
        common = {"REDIS_URL": red.url, "LOG_LEVEL": "debug"}
        topics = private_topics(stack.kafka_brokers)
        # The gateway reads both from files, the worker both from variables.
        g = PrivateProc(stack, "gateway", dict(common, REDIS_PASSWORD_FILE=rfile,
                                               LOG_PATIENT_KEY_FILE=kfile, **topics))
        procs.append(g)
        w = PrivateProc(stack, "worker", dict(common, REDIS_PASSWORD=REDIS_SECRET,
                                              LOG_PATIENT_KEY=PATIENT_KEY, **topics))
        procs.append(w)
        rport = stackmod.free_port()
        rlog = os.path.join(stack.run_dir, "resource-sim-secrets-%d.log" % rport)
        env = dict(os.environ, SERVER_PORT=str(rport), LOG_LEVEL="debug",
                   LOG_PATIENT_KEY=PATIENT_KEY)
        with open(rlog, "ab") as out:
            rs = subprocess.Popen([os.path.join(stack.build_dir, "resource-sim")], env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        rurl = "http://127.0.0.1:%d" % rport
        wait_until(lambda: stackmod.port_open(rport), 30, "the private resource-sim")
        # Real work on each: a whole session through the private gateway and worker (private
        # topics, the stack's resources), and a call of the private resource.
        r = post_journals(g.url, {"patientId": "patient-secret", "delays": "0,0,0",
                                  "timeoutMs": 5000})
        assert r.status_code == 202, r.text
        cid = r.json()["correlationId"]
        _, summary = check_session_events(read_stream(g.url, cid, timeout=20).events, cid)
        assert summary["respondents"] == 3
        r = requests.post(rurl + "/journals", timeout=10, json={
            "patientId": "patient-secret", "delay": 0, "correlationId": cid,
            "callbackUrl": g.url + "/aggregate/callback"})
        assert r.status_code == 200, r.text
        wait_until(lambda: cid in open(rlog, errors="replace").read(), 20,
                   "the private resource's lines of the call")
        for name, base in (("gateway", g.url), ("worker", w.url), ("resource-sim", rurl)):
            props = requests.get(base + "/actuator/configprops", timeout=10)
            assert props.status_code == 200
            assert_clean(name + " configprops", props.text)
            assert "******" in props.text  # shown as set, not shown
            out = subprocess.run([os.path.join(stack.build_dir, name), "--help"], env=dict(
                os.environ, REDIS_PASSWORD=REDIS_SECRET, LOG_PATIENT_KEY=PATIENT_KEY),
                capture_output=True, text=True, timeout=30)
            assert out.returncode == 0
            assert_clean(name + " --help", out.stdout + out.stderr)
        rs.terminate()
        rs.wait(30)
        for p in procs:
            assert p.stop() == 0
        for name, text in (("gateway log", g.log()), ("worker log", w.log()),
                           ("resource-sim log", open(rlog, errors="replace").read())):
            assert '"level":"DEBUG"' in text, name  # debug lines were written
            assert_clean(name, text)
    finally:
        for p in procs:
            p.stop()
        red.stop()
        os.unlink(rfile)
        os.unlink(kfile)


def test_no_secret_in_a_configuration_error(stack):
    cases = [
        # SASL credentials without SASL: refused.
        {"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": SASL_SECRET},
        # A secret both in its variable and in a file: refused.
        {"REDIS_PASSWORD": REDIS_SECRET, "REDIS_PASSWORD_FILE": "/nonexistent"},
        {"LOG_PATIENT_KEY": PATIENT_KEY, "LOG_PATIENT_KEY_FILE": "/nonexistent"},
        # A file that is not there.
        {"KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "KAFKA_SASL_USERNAME": "u",
         "KAFKA_SASL_PASSWORD_FILE": "/nonexistent/secret"},
    ]
    for prog in ("gateway", "worker"):
        for extra in cases:
            # Should one start after all, it joins no group nor topic of the stack.
            env = dict(os.environ, KAFKA_BROKERS=stack.kafka_brokers,
                       SERVER_PORT=str(stackmod.free_port()), MANAGEMENT_PORT="0",
                       KAFKA_GROUP_ID="itest-secrets-none", KAFKA_TOPIC_REQUESTS="itest-none.r",
                       KAFKA_TOPIC_CALLBACKS="itest-none.c", LOG_LEVEL="debug", **extra)
            out = subprocess.run([os.path.join(stack.build_dir, prog)], env=env,
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 2, (prog, extra, out.stderr)
            err = out.stdout + out.stderr
            assert "configuration error" in err, err
            assert_clean("%s's configuration error" % prog, err)
