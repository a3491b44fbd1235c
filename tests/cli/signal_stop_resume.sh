#!/usr/bin/env bash
# signal_stop_resume.sh TRAIN CONFIG WORKDIR MODE: a real signal against a real training run.
#   MODE INT / TERM: start `train` in the background, wait until its log shows training
#     progress, send the signal, and check that it exits 130 / 143 after saving a checkpoint
#     and logging the command that resumes it; then run that command (capped at a few more
#     steps) and check that it continues from the checkpoint and finishes.
#   MODE double: two signals arrive together (the process is stopped while they are sent):
#     the second one exits at once, without saving.
# Every wait is bounded, so the test fails instead of hanging.
set -u
train=$1; config=$2; work=$3; mode=$4
fail() { echo "FAIL: $*"; echo "--- log:"; cat "$log" 2>/dev/null; exit 1; }

rm -rf "$work"; mkdir -p "$work"
log=$work/train.log
out=$work/out
# Job control gives the background job its own process group and, unlike a plain `&` in a
# script, does not start it with SIGINT ignored.
set -m
"$train" --config "$config" max_steps=100000 logging_steps=1 eval_steps=0 save_steps=0 \
  eval_dataset= synthetic.train_size=2000 micro_batch_size=8 progress_bar=auto \
  output_dir="$out" >"$log" 2>&1 &
pid=$!
trap 'kill -KILL $pid 2>/dev/null' EXIT

# Wait (up to 120 s) until a few steps are logged.
for _ in $(seq 1200); do
  grep -q "step 3/100000" "$log" && break
  kill -0 "$pid" 2>/dev/null || fail "train exited before the signal was sent"
  sleep 0.1
done
grep -q "step 3/100000" "$log" || fail "no training progress in the log after 120 s"

case "$mode" in
  INT) kill -s INT "$pid"; expected=130; name=SIGINT ;;
  TERM) kill -s TERM "$pid"; expected=143; name=SIGTERM ;;
  double)
    kill -s STOP "$pid"
    kill -s INT "$pid"; kill -s TERM "$pid"  # both pending: delivered one after the other
    kill -s CONT "$pid"
    expected=any; name=SIGINT ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac

# Wait (up to 60 s) for it to exit.
for _ in $(seq 600); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "train still running 60 s after the signal"
wait "$pid"; rc=$?
trap - EXIT
if [ "$expected" = any ]; then
  # Which of the two pending signals the kernel delivers first is not specified.
  [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ] || fail "exit status $rc, expected 130 or 143"
else
  [ "$rc" -eq "$expected" ] || fail "exit status $rc, expected $expected"
fi

if [ "$mode" = double ]; then
  grep -q "second interrupt: exiting now, without saving" "$log" || fail "no second-signal message"
  ls "$out" | grep -q '^checkpoint-' && fail "a checkpoint was saved after the second signal"
  echo "ok: the second signal exited at once with $rc, nothing saved"
  exit 0
fi

grep -q "$name: stopping after step" "$log" || fail "no '$name: stopping after step' line"
step=$(sed -n "s/.*$name: stopping after step \([0-9]*\) .*/\1/p" "$log" | head -1)
[ -n "$step" ] || fail "cannot read the stopped step"
[ -f "$out/checkpoint-$step/trainer_state.json" ] || fail "no checkpoint-$step saved"
grep -q "saved checkpoint $out/checkpoint-$step" "$log" || fail "no 'saved checkpoint' line"
command=$(sed -n 's/.*to resume: //p' "$log" | head -1)
[ -n "$command" ] || fail "no 'to resume:' line"
case "$command" in
  *"--config $config "*"resume_from_checkpoint=$out/checkpoint-$step") ;;
  *) fail "unexpected resume command: $command" ;;
esac

# The logged command, as a user would paste it, capped at 3 more steps.
final=$((step + 3))
resume_log=$work/resume.log
timeout 300 bash -c "$command max_steps=$final" >"$resume_log" 2>&1
rc=$?
log=$resume_log
[ "$rc" -eq 0 ] || fail "the resume command exited $rc"
grep -q "resumed from $out/checkpoint-$step at step $step/$final" "$resume_log" ||
  fail "the resumed run did not start at step $step"
grep -q "step $final/$final" "$resume_log" || fail "the resumed run did not reach step $final"
[ -f "$out/checkpoint-$final/trainer_state.json" ] || fail "no final checkpoint-$final"
lines=$(grep -c '"loss"' "$out/metrics.jsonl")
[ "$lines" -eq "$final" ] || fail "metrics.jsonl has $lines train lines, expected $final"
echo "ok: $name stopped the run at step $step with exit $expected; resumed to step $final"
