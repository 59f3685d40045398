#!/usr/bin/env bash
# GPU speed at ImageNet scale (issue 23): figs's three ImageNet supernets under `figs bench` next to
# their independent PyTorch twin (benchmarks/torch_supernets.py), on one GPU:
#   bash benchmarks/gpu_speed.sh OUT_DIR
# For each space (fbnet, resnet50, oneshot; figs presets paper-fbnet, paper-resnet50, paper-oneshot):
#   $FIGS --device cuda bench --preset paper-S --batch B --warmup 3 --steps 10 --stage both --json OUT/figs-paper-S.json
#   the twin, eager, in search, retrain and inference modes with TF32 on (PyTorch's default for
#   convolutions) and then off (strict float32: figs's arithmetic, cuDNN CUDNN_FMA_MATH and cuBLAS
#   without TF32), all in one process; then the twin under torch.compile (TF32 on).
# Writes OUT/figs-paper-S.json and .log, OUT/torch-S-{eager,compile}.log, OUT/torch.jsonl (every
# RESULT line of the twin, tagged with its "command"; gpu_speed.json adds its "variant": check,
# eager, eager-fp32 or compile),
# OUT/commands.jsonl (each command: rc, seconds, its time limit), OUT/gpu_speed.json (all the
# figures) and OUT/gpu_speed.md (the table: space, stage, img/s of figs and of each twin variant,
# the ratios figs / twin, peak memory of each).
#
# Every command runs under `timeout`, and the whole script within BUDGET seconds (default 300, on
# an H100: figs and the eager twin typically take well under half of it): commands run in order of
# importance (the twin's --check, then figs and the eager twin space by space, then
# torch.compile), each with its own limit cut to what the budget has left, and one that would
# start with under 15 s left is skipped. A twin process that runs out of time keeps the RESULT
# lines of the modes it finished, and a figs bench cut short keeps the stages it printed. A
# failing, timed-out or skipped command is reported in the table, never fatal: the exit status is
# 0 unless the table could not be written.
#
# Settings (environment), defaults in brackets: FIGS [build-gpu/figs], PYTHON [python3], DEVICE
# [cuda; cpu: a smoke test of this script], BATCH [64] (per space: BATCH_FBNET, BATCH_RESNET50,
# BATCH_ONESHOT), WARMUP [3], STEPS [10], BUDGET [300], SPACES ["fbnet resnet50 oneshot"],
# COMPILE_SPACES ["fbnet resnet50"; add oneshot when BUDGET allows: inductor on its ~500 convs,
# forward and backward, takes minutes], TF32 [on: the eager and compile runs], FP32_RUNS [1: the
# eager process also runs every mode with TF32 off], CHANNELS_LAST [1: the twin in channels-last,
# the layout figs trains in], and time limits in seconds T_FIGS_S, T_EAGER_S, T_COMPILE_S for S in
# FBNET, RESNET50, ONESHOT [figs 40, 40, 75; eager 50, 50, 90; compile 75 each].
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: benchmarks/gpu_speed.sh OUT_DIR}
mkdir -p "$OUT"
FIGS=${FIGS:-build-gpu/figs}
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-64}
WARMUP=${WARMUP:-3}
STEPS=${STEPS:-10}
BUDGET=${BUDGET:-300}
SPACES=${SPACES:-"fbnet resnet50 oneshot"}
COMPILE_SPACES=${COMPILE_SPACES:-"fbnet resnet50"}
TF32=${TF32:-on}
FP32_RUNS=${FP32_RUNS:-1}
CHANNELS_LAST=${CHANNELS_LAST:-1}
TWIN=benchmarks/torch_supernets.py
: >"$OUT/commands.jsonl"
: >"$OUT/torch.jsonl"
deadline=$((SECONDS + BUDGET))

upper() { echo "$1" | tr '[:lower:]' '[:upper:]'; }
batch_of() { local v="BATCH_$(upper "$1")"; echo "${!v:-$BATCH}"; }
limit_of() {  # limit_of KIND SPACE DEFAULT: T_KIND_SPACE, else DEFAULT
  local v="T_$1_$(upper "$2")"; echo "${!v:-$3}"
}
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

# run NAME LIMIT LOG CMD...: CMD under timeout (LIMIT, cut to what the budget has left), its
# output in LOG; the outcome goes to commands.jsonl.
run() {
  local name=$1 limit=$2 logf=$3
  shift 3
  local left=$((deadline - SECONDS))
  if ((left < 15)); then
    echo "== $name: skipped (budget: ${left}s left)"
    printf '{"name": %s, "rc": null, "skipped": true, "seconds": 0, "timeout_s": %d, "log": %s, "cmd": %s}\n' \
      "$(json_str "$name")" "$limit" "$(json_str "$logf")" "$(json_str "$*")" >>"$OUT/commands.jsonl"
    return 0
  fi
  local t=$((limit < left ? limit : left))
  echo "== $name (limit ${t}s): $*"
  local start=$SECONDS rc=0
  timeout -k 5 "$t" "$@" >"$logf" 2>&1 || rc=$?
  local took=$((SECONDS - start))
  if ((rc == 124 || rc == 137)); then echo "   timed out after ${took}s"; else echo "   rc $rc in ${took}s"; fi
  printf '{"name": %s, "rc": %d, "skipped": false, "seconds": %d, "timeout_s": %d, "log": %s, "cmd": %s}\n' \
    "$(json_str "$name")" "$rc" "$took" "$t" "$(json_str "$logf")" "$(json_str "$*")" >>"$OUT/commands.jsonl"
  return 0
}

# The twin's RESULT lines in LOG into torch.jsonl, tagged with the command's NAME (the table tells
# the variant from each line's own compile and tf32 fields).
collect() {
  sed -n "s/^RESULT {/{\"command\": \"$2\", /p" "$1" >>"$OUT/torch.jsonl" 2>/dev/null || true
}

cl_flag=()
[ "$CHANNELS_LAST" = 1 ] && cl_flag=(--channels-last)
eager_tf32=$TF32
[ "$FP32_RUNS" = 1 ] && [ "$TF32" != off ] && eager_tf32="$TF32,off"

timeout 10 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$OUT/gpu.txt" 2>/dev/null ||
  echo "no GPU seen by nvidia-smi (device $DEVICE)" >"$OUT/gpu.txt"
echo "GPU: $(head -n 1 "$OUT/gpu.txt")"
timeout 30 "$PYTHON" -c "import torch; print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version())" \
  >"$OUT/torch_version.txt" 2>&1 || true
echo "torch (version, CUDA, cuDNN): $(tail -n 1 "$OUT/torch_version.txt")"

# The twin's counts against figs's (on the CPU, a few seconds).
run "torch check" 40 "$OUT/torch-check.log" "$PYTHON" "$TWIN" --check --space all
collect "$OUT/torch-check.log" "torch check"

# 1. figs and the eager twin, space by space.
for s in $SPACES; do
  p=paper-$s
  b=$(batch_of "$s")
  def_figs=40 def_eager=50
  [ "$s" = oneshot ] && def_figs=75 def_eager=90
  # data.dir: the paper presets train on an ImageNet folder, which bench never reads, but the
  # configuration check wants one named.
  run "figs $p" "$(limit_of FIGS "$s" $def_figs)" "$OUT/figs-$p.log" \
    "$FIGS" --device "$DEVICE" bench --preset "$p" --set data.dir=/nonexistent-unused --batch "$b" --warmup "$WARMUP" \
    --steps "$STEPS" --stage both --json "$OUT/figs-$p.json"
  run "torch $s eager" "$(limit_of EAGER "$s" $def_eager)" "$OUT/torch-$s-eager.log" \
    "$PYTHON" "$TWIN" --space "$s" --device "$DEVICE" --batch "$b" --warmup "$WARMUP" --steps "$STEPS" \
    --mode search,retrain,inference --tf32 "$eager_tf32" ${cl_flag[@]+"${cl_flag[@]}"}
  collect "$OUT/torch-$s-eager.log" "torch $s eager"
done

# 2. torch.compile (its first warm-up step compiles).
for s in $COMPILE_SPACES; do
  case " $SPACES " in *" $s "*) ;; *) continue ;; esac
  run "torch $s compile" "$(limit_of COMPILE "$s" 75)" "$OUT/torch-$s-compile.log" \
    "$PYTHON" "$TWIN" --space "$s" --device "$DEVICE" --batch "$(batch_of "$s")" --warmup "$WARMUP" --steps "$STEPS" \
    --mode search,retrain,inference --tf32 "$TF32" --compile ${cl_flag[@]+"${cl_flag[@]}"}
  collect "$OUT/torch-$s-compile.log" "torch $s compile"
done

# 3. The figures: gpu_speed.json and the Markdown table.
OUT="$OUT" SPACES="$SPACES" TF32="$TF32" CHANNELS_LAST="$CHANNELS_LAST" BATCH="$BATCH" BUDGET="$BUDGET" \
  DEVICE="$DEVICE" WARMUP="$WARMUP" STEPS="$STEPS" FP32_RUNS="$FP32_RUNS" \
  "$PYTHON" - <<'EOF' || { echo "gpu_speed: the table could not be written" >&2; exit 1; }
import json, os, re

out, spaces = os.environ["OUT"], os.environ["SPACES"].split()

def jsonl(name):
    rows = []
    if os.path.exists(os.path.join(out, name)):
        for line in open(os.path.join(out, name)):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows

commands, results = jsonl("commands.jsonl"), jsonl("torch.jsonl")
cmds = {c["name"]: c for c in commands}

def why_missing(name):  # the command's outcome, for a cell without a figure
    c = cmds.get(name)
    if c is None:
        return "not run"
    if c["skipped"]:
        return "skipped (budget)"
    if c["rc"] in (124, 137):
        return f"timeout ({c['timeout_s']} s)"
    return f"failed (rc {c['rc']})" if c["rc"] else "no result"

figs = {}
for s in spaces:
    p = "paper-" + s
    try:
        figs[s] = json.load(open(os.path.join(out, f"figs-{p}.json")))
    except (OSError, ValueError):  # cut short: the stages it finished are in its printed table
        figs[s] = {"from_log": True}
        if os.path.exists(os.path.join(out, f"figs-{p}.log")):
            for line in open(os.path.join(out, f"figs-{p}.log")):
                m = re.match(r"(retrain|search)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)\s*$", line)
                if m:
                    figs[s][m.group(1)] = {"img_per_s": float(m.group(2)), "step_ms_median": float(m.group(3)),
                                           "gflops": float(m.group(4)), "peak_memory_mib": float(m.group(5))}

def figs_cell(s, stage):
    if stage in figs.get(s, {}):
        return figs[s][stage], None
    if stage == "inference":
        return None, "n/a"
    return None, why_missing("figs paper-" + s)

def variant_of(r):  # from the line itself: compile asked for, else eager with TF32 on or off
    if r.get("kind") == "check":
        return "check"
    if r.get("compile_requested", r.get("compile")):
        return "compile"
    return "eager-fp32" if r.get("tf32", {}).get("requested") == "off" else "eager"

for r in results:
    r["variant"] = variant_of(r)

def torch_cell(s, stage, variant):
    for r in results:
        if (r["variant"], r.get("space"), r.get("mode")) == (variant, s, stage):
            if "error" in r:
                return None, "error: " + r["error"].split(":")[0]
            if variant == "compile" and not r.get("compile"):
                return None, "no torch.compile"
            return r, None
    if variant == "eager-fp32" and (os.environ["FP32_RUNS"] != "1" or os.environ["TF32"] == "off"):
        return None, "not run"
    return None, why_missing(f"torch {s} compile" if variant == "compile" else f"torch {s} eager")

variants = ("eager", "compile", "eager-fp32")
rows = []
for s in spaces:
    for stage in ("search", "retrain", "inference"):
        row = {"space": s, "stage": stage}
        row["figs"], row["figs_status"] = figs_cell(s, stage)
        for v in variants:
            row[v], row[v + "_status"] = torch_cell(s, stage, v)
        rows.append(row)

def ips(row, k):
    return f"{row[k]['img_per_s']:,.1f}" if row[k] else row[k + "_status"]

def mem(row, k):
    return f"{row[k]['peak_memory_mib']:,.0f}" if row[k] else "—"

def ratio(row, k):
    return f"{row['figs']['img_per_s'] / row[k]['img_per_s']:.2f}" if row["figs"] and row[k] else "—"

gpu = open(os.path.join(out, "gpu.txt")).read().strip() if os.path.exists(os.path.join(out, "gpu.txt")) else "?"
tver = next((r["torch"] for r in results if r.get("torch")), "?")
checks = [r for r in results if r["variant"] == "check"]
md = ["# figs vs its PyTorch twin on the ImageNet supernets (benchmarks/gpu_speed.sh)", "",
      f"GPU: {gpu}. torch {tver}. Device {os.environ['DEVICE']}, batch {os.environ['BATCH']}, {os.environ['WARMUP']} "
      f"warm-up + {os.environ['STEPS']} timed steps, median step. The twin "
      f"runs channels-last: {'yes' if os.environ['CHANNELS_LAST'] == '1' else 'no'}; TF32 {os.environ['TF32']} in "
      "the eager and compile columns and off in the FP32 column: figs computes in strict float32 (no TF32), so "
      "'torch eager FP32' is the like-for-like arithmetic.", "",
      "Images per second; a ratio above 1 means figs is faster. Peak memory in MiB (figs: its caching "
      "allocator's peak so far, the search stage running after the retrain; torch: torch.cuda.max_memory_allocated of that mode; on a CPU, each process's peak "
      "RSS). figs bench has no inference stage.", "",
      "| space | stage | figs img/s | torch eager | torch.compile | torch eager FP32 | figs/eager | figs/compile | "
      "figs/eager FP32 | figs MiB | eager MiB | compile MiB | eager FP32 MiB |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
for r in rows:
    md.append("| " + " | ".join([r["space"], r["stage"], ips(r, "figs")] + [ips(r, v) for v in variants] +
                                [ratio(r, v) for v in variants] + [mem(r, "figs")] + [mem(r, v) for v in variants]) + " |")
md += ["", "Twin vs `figs info` (params, MACs per image): " +
       (", ".join(f"{c['space']} {'equal' if c.get('ok') else 'DIFFERENT'}" for c in checks) or "not checked"), "",
       "| command | outcome | seconds | limit s |", "| --- | --- | ---: | ---: |"]
for c in commands:
    outcome = "skipped (budget)" if c["skipped"] else "timeout" if c["rc"] in (124, 137) else f"rc {c['rc']}"
    md.append(f"| {c['name']} | {outcome} | {c['seconds']} | {c['timeout_s']} |")
open(os.path.join(out, "gpu_speed.md"), "w").write("\n".join(md) + "\n")
settings = {k: os.environ[k] for k in ("DEVICE", "BATCH", "WARMUP", "STEPS", "BUDGET", "TF32", "FP32_RUNS",
                                      "CHANNELS_LAST", "SPACES")}
json.dump({"gpu": gpu, "torch": tver, "settings": settings, "figs": figs, "torch_results": results,
           "commands": commands, "table": rows}, open(os.path.join(out, "gpu_speed.json"), "w"), indent=1)
print("\n".join(md))
EOF
echo "gpu_speed: $OUT/gpu_speed.md, $OUT/gpu_speed.json"
