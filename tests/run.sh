#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages the tests use as oracles and real
# peers, a virtualenv with the package and its test extras, then pytest.
# Usage: tests/run.sh [pytest args...]      (.ci/run calls exactly this)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(tshark wireshark-common iproute2 ethtool curl openssl prometheus dnsmasq tcpreplay libpcap0.8 busybox)
APT_PACKAGES+=(rsyslog nfdump)  # issue 18: a real syslog receiver and IPFIX collector for the output tests
APT_PACKAGES+=(openssh-server openssh-client openjdk-17-jre-headless)  # issue 17: a real sshd as the fleet collector; Java for the PySpark reader
APT_PACKAGES+=(prosody ngircd shadowsocks-libev)  # issue 14: XMPP STARTTLS, IRC and Shadowsocks peers in tests/netns/test_im_proxies.py
APT_PACKAGES+=(chromium poppler-utils fonts-dejavu-core)  # issue 16: render the report page, print it to PDF on Letter and A4, check its pages
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "tests/run.sh: missing system packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "tests/run.sh: installing ${missing[*]}"
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

# the venv's tools (ruff, mypy) on PATH: the quality test runs them, and skips nothing here
export PATH="$PWD/.venv/bin:$PATH"
# two workers, one test file each at a time (module fixtures are built once): the suite fits
# its 20-minute budget on a 2-core machine. SENSOR_TEST_WORKERS=0 runs it in one process.
set +e
.venv/bin/python -m pytest -n "${SENSOR_TEST_WORKERS:-2}" --dist loadfile "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "tests/run.sh: pytest collected no tests" >&2
  exit 0
fi
exit "$rc"
