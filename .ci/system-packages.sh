#!/usr/bin/env bash
# The system packages the tests and the demo site need: installed when run as root on a
# Debian or Ubuntu machine, otherwise named in one line for a person to install.
# `make test` and `make run` call it (so .ci/run does, through make test).
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have sshd || missing+=(openssh-server)
have ssh || missing+=(openssh-client)
have rsync || missing+=(rsync)
have lsof || missing+=(lsof)
have chromium || missing+=(chromium)
have influxd || missing+=(influxdb)
have slurmctld || missing+=(slurm-wlm)
have munged || missing+=(munge)
have zstd || missing+=(zstd)
have ip || missing+=(iproute2)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || have initdb || missing+=(postgresql)
# `docker-compose config` parses the compose file (tests/socs_like/test_compose_up.py); no
# Docker engine runs here, so not docker.io, which it recommends.
have docker-compose || missing+=(docker-compose)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}" >&2
  apt-get update -qq
  plain=() lean=()
  for package in "${missing[@]}"; do
    if [ "$package" = docker-compose ]; then lean+=("$package"); else plain+=("$package"); fi
  done
  [ ${#plain[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${plain[@]}" >/dev/null
  [ ${#lean[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
  exit 0
fi
echo "missing system packages: ${missing[*]} (install them, e.g. sudo apt-get install ${missing[*]})" >&2
exit 1
