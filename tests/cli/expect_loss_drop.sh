#!/usr/bin/env bash
# expect_loss_drop.sh -- COMMAND...: passes when a training COMMAND exits 0 and its final eval
# loss ("final: eval loss X") is below the one before training ("before training: eval loss
# Y"). Prints the run's log on failure.
set -u
[ "$1" = "--" ] && shift
log=$(mktemp); trap 'rm -f "$log"' EXIT
"$@" >"$log" 2>&1; rc=$?
if [ "$rc" -ne 0 ]; then echo "FAIL: exit $rc: $*"; cat "$log"; exit 1; fi
before=$(sed -n 's/.*before training: eval loss \([0-9.e+-]*\).*/\1/p' "$log" | head -1)
final=$(sed -n 's/.*final: eval loss \([0-9.e+-]*\).*/\1/p' "$log" | head -1)
if [ -z "$before" ] || [ -z "$final" ]; then echo "FAIL: no eval losses in the log"; cat "$log"; exit 1; fi
if ! awk -v b="$before" -v f="$final" 'BEGIN { exit !(f < b) }'; then
  echo "FAIL: eval loss did not go down: $before -> $final"; cat "$log"; exit 1
fi
cat "$log"
echo "ok: eval loss $before -> $final"
