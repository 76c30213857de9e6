#!/usr/bin/env bash
# Fails if `nbdev-clean` or `nbdev-export` change anything: notebooks must be clean and the package in sync.
set -euo pipefail
bin=${1:-.venv/bin}
snap() { find nbs fairkd_nb -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' \
           -not -path 'nbs/_*' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 md5sum; }
before=$(snap)
"$bin/nbdev-clean" >/dev/null
"$bin/nbdev-export" >/dev/null
after=$(snap)
if [ "$before" != "$after" ]; then
  echo "ERROR: nbdev-clean/nbdev-export changed these files (they are now fixed in your working tree):" >&2
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "  " $3}' | sort -u >&2
  echo "Notebooks must be clean and fairkd_nb/ must match them. Review 'git diff' and commit." >&2
  exit 1
fi
"$bin/python" tools/make_readme.py --check
echo "nbdev: notebooks clean, package in sync."
