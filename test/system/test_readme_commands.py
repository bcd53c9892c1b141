"""Every command the README and the pages of docs/ show works as written after the README's set-up
(`make setup`, then `source env.sh`): each package command answers `--help` and knows every option
the documents give it; `make` targets, launch arguments and `ros2 run` executables exist.

The commands are read from the documents themselves (README.md and every docs/*.md: their code
blocks, and inline code that starts like a command), so the test follows them. A command this test
does not know fails it: add it to EXTERNAL (a tool of the reader's machine) or teach the test how to
check it.
"""
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The documents whose commands are checked: the README and every page of docs/.
DOCUMENTS = [README] + sorted((ROOT / "docs").glob("*.md"))
ENV_SH = ROOT / "env.sh"

# Programs of the reader's machine or of a ROS installation: not this package's to check.
EXTERNAL = {"cd", "pip", "git", "rosdep", "colcon", "source", ".", "export", "sudo", "apt", "apt-get"}
# Inline code that is a command when it starts like this.
INLINE_STARTS = ("grasp-scorer-", "make ", "python ", "python3 ", "ros2 launch grasp_scorer_ros",
                 "ros2 run grasp_scorer_ros")


def readme_commands(text: str) -> list[str]:
    """Commands of the README's shell code blocks and inline command spans, continuation lines joined."""
    commands = []
    for language, body in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S):
        if language not in ("bash", "sh", "shell", "console"):
            continue
        body = re.sub(r"\s*\\\n\s*", " ", body)
        for line in body.splitlines():
            line = line.strip()
            if not line or line.startswith("#") or not re.match(r"[\w./$-]", line):
                continue
            line = re.sub(r"\s+#\s.*$", "", line)       # a trailing comment
            commands.extend(part.strip() for part in line.split("&&") if part.strip())
    without_blocks = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]+)`", without_blocks):
        span = " ".join(span.split("\n"))         # wrapped over two lines of the paragraph
        if span.startswith(INLINE_STARTS) and "  " not in span.strip():
            commands.append(span.strip())
    return commands


def program_of(words: list[str]) -> str:
    if words[0] in ("python", "python3"):
        return " ".join(words[:3]) if words[1] == "-m" else " ".join(words[:2])
    return words[0]


def options_of(words: list[str]) -> set[str]:
    return {word.split("=")[0] for word in words if re.fullmatch(r"--[a-z][a-z0-9-]*(=.*)?", word)}


def classify(commands):
    """{program: set of options} to run with --help, and the other checks as (kind, words)."""
    help_runs, checks, unknown = {}, [], []
    for command in commands:
        words = shlex.split(command.replace("{", "").replace("}", ""))
        first = words[0]
        if first.startswith("grasp-scorer-") or (first in ("python", "python3") and len(words) > 1):
            help_runs.setdefault(program_of(words), set()).update(options_of(words))
        elif first == "make":
            checks.append(("make", words))
        elif words[:3] == ["ros2", "launch", "grasp_scorer_ros"]:
            checks.append(("launch", words))
        elif words[:3] == ["ros2", "run", "grasp_scorer_ros"]:
            checks.append(("run", words))
        elif first in EXTERNAL:
            continue
        else:
            unknown.append(command)
    return help_runs, checks, unknown


def in_environment(command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``command`` in a fresh bash that sources env.sh, as the README says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "_ROS"))}
    return subprocess.run(["bash", "-c", f"source {shlex.quote(str(ENV_SH))} && {command}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


README_COMMANDS = readme_commands(README.read_text())
COMMANDS = [command for document in DOCUMENTS for command in readme_commands(document.read_text())]
HELP_RUNS, CHECKS, UNKNOWN = classify(COMMANDS)


def test_the_readme_shows_the_package_commands():
    programs = set(HELP_RUNS)
    for expected in ("grasp-scorer-train", "grasp-scorer-evaluate", "grasp-scorer-synth"):
        assert expected in programs
    assert not UNKNOWN, f"README or docs/ commands this test cannot check: {UNKNOWN}"
    readme_programs = set(classify(README_COMMANDS)[0])
    for expected in ("grasp-scorer-train", "grasp-scorer-evaluate", "grasp-scorer-synth"):
        assert expected in readme_programs, f"the README itself no longer shows {expected}"


def test_the_docs_pages_are_read_too():
    pages = {document.name for document in DOCUMENTS[1:]}
    assert {"detection_node.md", "fanuc_bridge.md", "physics_trials.md", "training.md", "paper_claims.md",
            "speed.md"} <= pages
    assert set(README_COMMANDS) < set(COMMANDS), "the docs pages add commands of their own"


def test_reading_the_readme_finds_blocks_inline_commands_and_continuations():
    text = ("Run `grasp-scorer-synth --out\nD` or `other thing`.\n\n```bash\nmake demo   # set up\n"
            "grasp-scorer-train --a 1 \\\n  --b 2\n# a comment\ncd x && colcon build\n```\n")
    assert readme_commands(text) == ["make demo", "grasp-scorer-train --a 1 --b 2", "cd x", "colcon build",
                                     "grasp-scorer-synth --out D"]
    help_runs, checks, unknown = classify(readme_commands(text))
    assert help_runs == {"grasp-scorer-train": {"--a", "--b"}, "grasp-scorer-synth": {"--out"}}
    assert checks == [("make", ["make", "demo"])] and not unknown


@pytest.fixture(scope="module")
def set_up():
    if not ENV_SH.is_file():
        if os.environ.get("GRASP_SCORER_REQUIRE_ROS") == "1":
            pytest.fail("env.sh is missing: run make setup")
        pytest.skip("not set up with make setup (no env.sh)")


@pytest.mark.parametrize("program", sorted(HELP_RUNS))
def test_each_documented_command_answers_help_and_knows_its_options(set_up, program):
    result = in_environment(f"{program} --help")
    assert result.returncode == 0, f"`{program} --help` failed after source env.sh:\n{result.stderr[-2000:]}"
    assert "usage" in result.stdout.lower()
    missing = {option for option in HELP_RUNS[program] if option not in result.stdout}
    assert not missing, (f"the README or docs/ give {program} options its --help does not know: "
                         f"{sorted(missing)}")


def test_make_targets_launch_arguments_and_ros2_run_executables_exist(set_up):
    from grasp_scorer_ros.app.bringup import LAUNCH_ARGUMENTS
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    arguments = {name for name, *_ in LAUNCH_ARGUMENTS}
    executables = {p.name for p in (ROOT / "install" / "lib" / "grasp_scorer_ros").iterdir()}
    assert CHECKS, "the README and docs/ show make, ros2 launch and ros2 run commands"
    for kind, words in CHECKS:
        if kind == "make":
            assert {word for word in words[1:] if "=" not in word} <= targets, words
        elif kind == "launch":
            assert words[3] == "detect.launch.py" and (ROOT / "launch" / words[3]).is_file(), words
            named = {word.split(":=")[0] for word in words[4:] if ":=" in word}
            assert named <= arguments, f"unknown launch arguments in {words}: {named - arguments}"
        else:
            assert words[3] in executables, words
