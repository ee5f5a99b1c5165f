"""The systemd unit and the install script, checked offline.

``systemd-analyze verify`` and ``security --offline=true`` read the unit file without a
running systemd (PID 1 need not be systemd). The install script runs into a temporary
root with ``SYSTEMCTL`` replaced by a recorder and no pip step.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from exerciser.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "exerciser.service"
UNIT_README = ROOT / "systemd" / "README.md"
INSTALL = ROOT / "deploy" / "install.sh"
EXAMPLE_CONFIG = ROOT / "deploy" / "exerciser.example.toml"
MAX_EXPOSURE = 2.0

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd); "
    "the unit's verify and security checks need it",
)


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment in a unit file, repeats kept."""
    found, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(key: str) -> list[str]:
    return [v for _, k, v in directives(UNIT.read_text(encoding="utf-8")) if k == key]


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    env = {**os.environ, "SYSTEMD_LOG_LEVEL": "notice", "SYSTEMD_LOG_COLOR": "0"}
    env |= {"SYSTEMD_PAGER": "cat", "SYSTEMD_COLORS": "0"}
    return subprocess.run(  # noqa: S603 - fixed argv of a system tool
        [SYSTEMD_ANALYZE, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        check=False,
    )


def runnable_copy(folder: Path, text: str) -> Path:
    """The unit in ``folder`` with ExecStart on an executable stub: verify checks it."""
    stub = folder / "exerciser"
    stub.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    stub.chmod(0o755)
    unit = folder / "exerciser.service"
    unit.write_text(
        text.replace("ExecStart=/opt/exerciser/bin/exerciser", f"ExecStart={stub}"),
        encoding="utf-8",
    )
    return unit


def verify_problems(unit: Path) -> list[str]:
    """What ``systemd-analyze verify`` says about the unit: its exit status and every
    line naming it. A warning does not change the exit status, so lines count too."""
    result = analyze("verify", "--man=no", str(unit))
    lines = (result.stdout + result.stderr).splitlines()
    problems = [line for line in lines if unit.name in line or str(unit.parent) in line]
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}: {result.stderr.strip()}")
    return problems


# The unit file -----------------------------------------------------------------------


@needs_systemd_analyze
def test_systemd_analyze_verify_passes_without_a_warning(tmp_path: Path) -> None:
    unit = runnable_copy(tmp_path, UNIT.read_text(encoding="utf-8"))
    assert verify_problems(unit) == []


@needs_systemd_analyze
def test_the_verify_check_catches_a_bad_directive(tmp_path: Path) -> None:
    """Guards the test above: verify warns and still exits 0, so lines must count."""
    broken = UNIT.read_text(encoding="utf-8").replace("[Service]\n", "[Service]\nWachdogSec=1\n")
    problems = verify_problems(runnable_copy(tmp_path, broken))
    assert any("Unknown key" in line and "WachdogSec" in line for line in problems), problems


@needs_systemd_analyze
def test_security_exposure_is_at_most_two() -> None:
    result = analyze("security", "--offline=true", "--no-pager", str(UNIT))
    found = re.search(r"Overall exposure level for exerciser\.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout
    threshold = analyze(
        "security", "--offline=true", "--threshold=20", "--no-pager", str(UNIT)
    )  # 0..100 scale: 20 is an exposure of 2.0
    assert threshold.returncode == 0, threshold.stdout + threshold.stderr


def test_unit_is_a_notify_service_with_watchdog_credentials_and_state_directory() -> None:
    assert values("Type") == ["notify"]
    assert values("NotifyAccess") == ["main"]
    assert values("ExecStart") == [
        "/opt/exerciser/bin/exerciser daemon --config ${CREDENTIALS_DIRECTORY}/exerciser.toml"
    ]
    assert values("LoadCredential") == [
        "exerciser.toml:/etc/exerciser/exerciser.toml",
        "api_key:/etc/exerciser/api_key",
    ]
    assert values("StateDirectory") == ["exerciser"]
    assert int(values("WatchdogSec")[0]) >= 30
    assert values("Restart") == ["on-failure"]


def test_what_the_unit_hands_the_daemon_is_what_settings_reads(tmp_path: Path) -> None:
    """The credentials, ExecStart's --config and Environment=, as systemd passes them
    (%S is /var/lib), give the config file, the key, the state directory and JSON logs."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    sources = {"exerciser.toml": EXAMPLE_CONFIG, "api_key": None}
    for name, _, _ in (v.partition(":") for v in values("LoadCredential")):
        source = sources[name]
        text = "key-from-credential\n" if source is None else source.read_text(encoding="utf-8")
        (credentials / name).write_text(text, encoding="utf-8")
    environ = dict(v.replace("%S", "/var/lib").split("=", 1) for v in values("Environment"))
    environ["CREDENTIALS_DIRECTORY"] = str(credentials)
    argv = values("ExecStart")[0].replace("${CREDENTIALS_DIRECTORY}", str(credentials)).split()
    assert argv[1] == "daemon"
    config = argv[argv.index("--config") + 1]

    settings = load_settings({"config": config}, environ=environ)

    assert settings.state_dir == Path("/var/lib") / values("StateDirectory")[0]
    assert settings.log_format == "json"
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "key-from-credential"


def test_every_directive_of_the_unit_is_explained_in_the_readme() -> None:
    readme = UNIT_README.read_text(encoding="utf-8")
    keys = {key for _, key, _ in directives(UNIT.read_text(encoding="utf-8"))}
    missing = sorted(key for key in keys if f"`{key}=" not in readme)
    assert missing == []


# The install script ------------------------------------------------------------------


class Installed:
    """One temporary root the install script writes into."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = root / "opt" / "exerciser"
        self.etc = root / "etc" / "exerciser"
        self.units = root / "etc" / "systemd" / "system"
        self.calls = root / "systemctl.log"
        self.systemctl = root / "systemctl"
        self.systemctl.write_text(f'#!/bin/sh\necho "$*" >> {self.calls}\n', encoding="utf-8")
        self.systemctl.chmod(0o755)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "EXERCISER_PREFIX": str(self.prefix),
            "EXERCISER_ETC": str(self.etc),
            "SYSTEMD_DIR": str(self.units),
            "SYSTEMCTL": str(self.systemctl),
            "PYTHON": sys.executable,
            "EXERCISER_SKIP_PIP": "1",
            "EXERCISER_ALLOW_NONROOT": "1",
        }
        result = subprocess.run(  # noqa: S603 - our script, fixed argv
            ["/bin/sh", str(INSTALL), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def systemctl_calls(self) -> list[str]:
        return self.calls.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def installed(tmp_path: Path) -> Installed:
    return Installed(tmp_path)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_creates_venv_config_key_and_unit_then_enables_without_starting(
    installed: Installed,
) -> None:
    result = installed.run()
    assert (installed.prefix / "pyvenv.cfg").is_file()
    assert (installed.prefix / "share" / "doc" / "exerciser" / "runbook.md").is_file()

    config = installed.etc / "exerciser.toml"
    example = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert mode(installed.etc) == 0o755
    assert mode(config) == 0o600  # it may hold webhook URLs and the SMTP password
    lines = config.read_text(encoding="utf-8").splitlines()
    changed = [(a, b) for a, b in zip(example.splitlines(), lines, strict=True) if a != b]
    # The example, except that a fresh install starts in the dry-run week.
    assert [(a, b.split("#")[0]) for a, b in changed] == [("# dry_run = false", "dry_run = true  ")]

    key = installed.etc / "api_key"
    assert key.read_bytes() == b""
    assert mode(key) == 0o600
    if os.geteuid() == 0:
        assert (key.stat().st_uid, key.stat().st_gid) == (0, 0)
        assert (config.stat().st_uid, config.stat().st_gid) == (0, 0)

    unit = installed.units / "exerciser.service"
    assert mode(unit) == 0o644
    unit_keys = {k: v for _, k, v in directives(unit.read_text(encoding="utf-8"))}
    assert unit_keys["ExecStart"].startswith(f"{installed.prefix}/bin/exerciser daemon ")
    credentials = [
        v for _, k, v in directives(unit.read_text(encoding="utf-8")) if k == "LoadCredential"
    ]
    assert credentials == [
        f"exerciser.toml:{installed.etc}/exerciser.toml",
        f"api_key:{installed.etc}/api_key",
    ]

    assert installed.systemctl_calls() == ["daemon-reload", "enable exerciser.service"]
    assert "systemctl start exerciser" in result.stdout  # says how, does not do it


def test_install_config_is_valid_for_settings(installed: Installed) -> None:
    installed.run()
    settings = load_settings({"config": str(installed.etc / "exerciser.toml")}, environ={})
    assert settings.dry_run is True


def test_install_again_keeps_the_operators_config_and_key(installed: Installed) -> None:
    installed.run()
    config = installed.etc / "exerciser.toml"
    key = installed.etc / "api_key"
    config.write_text("dry_run = false\naccounts = [19816]\n", encoding="utf-8")
    key.write_text("the-real-key\n", encoding="utf-8")
    (installed.units / "exerciser.service").write_text("stale\n", encoding="utf-8")

    result = installed.run()

    assert config.read_text(encoding="utf-8") == "dry_run = false\naccounts = [19816]\n"
    assert key.read_text(encoding="utf-8") == "the-real-key\n"
    assert mode(key) == 0o600
    assert "Type=notify" in (installed.units / "exerciser.service").read_text(encoding="utf-8")
    assert installed.systemctl_calls() == ["daemon-reload", "enable exerciser.service"] * 2
    assert f"kept {config}" in result.stdout
    assert f"kept {key}" in result.stdout


def test_install_reports_a_key_readable_by_others_and_leaves_it(installed: Installed) -> None:
    installed.etc.mkdir(parents=True)
    key = installed.etc / "api_key"
    key.write_text("k\n", encoding="utf-8")
    key.chmod(0o644)
    result = installed.run()
    assert mode(key) == 0o644  # never changed behind the operator's back, only reported
    assert f"warning: {key} is readable by other users" in result.stdout


def test_install_flags_override_the_environment(installed: Installed) -> None:
    other = installed.root / "elsewhere"
    installed.run("--etc", str(other))
    assert (other / "exerciser.toml").is_file()
    assert not installed.etc.exists()
