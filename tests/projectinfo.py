"""Facts the tests read from the project's own sources: its version (CMakeLists.txt) and the environment names a program's --help documents."""

import os
import re
import subprocess

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# An environment variable's name where --help introduces one: first on its line, or next in a list
# (after "], ", "), " or another name and ", ").
HELP_ENV_NAME = re.compile(r"(?:^[ \t]*|[\])], |(?<=[A-Z0-9]), )([A-Z][A-Z0-9_]*[A-Z0-9])(?=[ \t:,\[(]|$)", re.M)


def project_version():
    """CMake's project version, the version of every program, image and the chart's appVersion."""
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"^project\(aggregator VERSION ([0-9.]+)", f.read(), re.M).group(1)


def help_env_names(help_text):
    """The environment names a --help text documents (the part after its "Environment" heading)."""
    _, sep, env_part = help_text.partition("\nEnvironment")
    if not sep:
        raise ValueError("no Environment section in the --help text")
    return set(HELP_ENV_NAME.findall(env_part.split("\n", 1)[1]))


def program_env_names(binary):
    """help_env_names of `binary --help`."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True, timeout=30).stdout
    return help_env_names(out)
