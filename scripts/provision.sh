#!/usr/bin/env bash
# Makes a Debian 12 machine ready for tplab: packages, build, and what to run next.
# The Vagrantfile's provisioner runs it in the VM; CI runs it too, so it is tested.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh >/dev/null
cat <<MSG

tplab is built: $(build/cli/tplab --version)
  sudo scripts/lab.sh                 # the main job: REDIRECT vs TPROXY side by side
  sudo scripts/lab.sh quickstart      # any lab in labs/, by name
  sudo scripts/test.sh                # the test suite
In the Vagrant VM, prefix with: vagrant ssh -c 'cd /vagrant && ...'
MSG
