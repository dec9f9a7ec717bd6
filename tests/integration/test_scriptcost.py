"""bench/scriptcost.py against the project's scripts: it replays whole sessions with the replies the
stack gets, and a script that answers differently stops it instead of being timed."""

import os
import shutil
import sys

import pytest

import aggtest

sys.path.insert(0, os.path.join(aggtest.REPO, "bench"))
import scriptcost  # noqa: E402

SCRIPTS = scriptcost.SCRIPTS


def test_replays_sessions_and_times_every_call():
    res = scriptcost.measure([SCRIPTS, SCRIPTS], sessions=80, warm_up=40)
    assert res["sessions"] == 80
    assert len(res["variants"]) == 2
    for v in res["variants"]:
        assert len(v["us_per_call"]) == len(scriptcost.PHASES)
        assert all(us > 0 for us in v["us_per_call"])
        assert v["us_per_session"] == pytest.approx(sum(v["us_per_call"]), abs=0.1)
    table = scriptcost.summary_lines(res)
    assert any(line.startswith("| per session |") for line in table)


def test_a_script_that_answers_differently_stops_the_run(tmp_path):
    broken = tmp_path / "scripts"
    shutil.copytree(SCRIPTS, broken)
    record = broken / "session_record.lua"
    # Every record a duplicate: fast, and wrong.
    record.write_text("do return {'duplicate', 0} end\n" + record.read_text())
    with pytest.raises(RuntimeError, match="record 1 returned"):
        scriptcost.measure([SCRIPTS, str(broken)], sessions=40, warm_up=0)
