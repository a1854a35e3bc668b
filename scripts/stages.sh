# Sourced by scripts/setup and scripts/run: announce each stage with what it does
# and how long it usually takes, then how long it took.
# Set STAGE_TAG (the prefix, e.g. "setup") and STAGES (how many) before use.
STAGE_T0=$SECONDS
STAGE_N=0

say() { echo "${STAGE_TAG}: $*" >&2; }
elapsed() {  # elapsed SECONDS -> "42s" or "3m05s"
  local s=$(($1))
  if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}
stage() {  # stage "what it does" "how long it usually takes"
  STAGE_N=$((STAGE_N + 1))
  STAGE_T0=$SECONDS
  say "[$STAGE_N/$STAGES] $1 — $2"
}
done_stage() { say "      done in $(elapsed $((SECONDS - STAGE_T0)))"; }
