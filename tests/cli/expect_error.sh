#!/usr/bin/env bash
# expect_error.sh PATTERN -- COMMAND...: passes when COMMAND exits non-zero (and not from a
# crash signal) and its stderr contains PATTERN (grep -E).
set -u
pattern=$1; shift; [ "$1" = "--" ] && shift
err=$(mktemp); trap 'rm -f "$err"' EXIT
"$@" >/dev/null 2>"$err"; rc=$?
if [ "$rc" -eq 0 ]; then echo "FAIL: expected a non-zero exit: $*"; cat "$err"; exit 1; fi
if [ "$rc" -ge 128 ]; then echo "FAIL: crashed with signal $((rc - 128)): $*"; cat "$err"; exit 1; fi
if ! grep -Eq -- "$pattern" "$err"; then
  echo "FAIL: stderr lacks /$pattern/:"; cat "$err"; exit 1
fi
echo "ok: exit $rc, message matched /$pattern/"
