#!/usr/bin/env bash
# The GPU check, one command, no internet, nothing built: run on a machine with an NVIDIA GPU, from the repository
# root, after gpu/prepare.sh (on the development machine) made gpu/app (and gpu/runtime.tar.xz):
#   OUT=/some/dir bash gpu/run.sh
# Steps (each with its own output file under $OUT, and a summary in $OUT/gpu-run.json):
#   1. nvidia-smi: the GPU and driver;
#   2. selfcheck --device cuda on DeepSeek-V2-Lite's shapes (lite-layers:1) and on tiny-v2 (group-limited gate):
#      every kernel against the CPU backend, JSON per kernel (expected exit 0);
#   3. the GPU tests (JUnit, engine-cuda's KernelSelfCheckGpuTest, CudaBackendOpsGpuTest and CudaForwardGpuTest
#      through GpuTestMain): every CudaBackend operation against the CPU one at a time, CPU-vs-GPU parity on tiny, tiny-v2 and lite-layers:2 (greedy ids identical over 16 steps, top-5 logprobs
#      within 2e-3), 64 concurrent sequences of mixed lengths through the paged cache, the self-check
#      ($OUT/gpu-tests.json; a skipped test fails here: it means no device was found);
#   4. generate --device cuda on a tiny random model: the self-check and the model parity probe pass, then the model
#      generates on the GPU (expected exit 0);
#   5. generate --device auto: picks the GPU once both checks pass and says so (expected exit 0);
#   6. bench --device cuda --preset lite-layers:4 --json ($OUT/bench-cuda.out is the JSON report).
# Exit status 0 when every step behaved as expected.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:?set OUT to the directory for the results}"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

java_major() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1; }
find_java() {
  local cand
  for cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25* /usr/lib/jvm/*-25* /usr/lib/jvm/jdk-25*; do
    [ -n "$cand" ] && [ -x "$cand/bin/java" ] || continue
    if [ "$(java_major "$cand/bin/java")" -ge 25 ] 2>/dev/null; then echo "$cand/bin/java"; return 0; fi
  done
  if command -v java >/dev/null && [ "$(java_major java)" -ge 25 ] 2>/dev/null; then command -v java; return 0; fi
  if [ -f gpu/runtime.tar.xz ]; then
    mkdir -p "$WORK/runtime" && tar xJf gpu/runtime.tar.xz -C "$WORK/runtime" && echo "$WORK/runtime/bin/java" && return 0
  fi
  return 1
}
JAVA="$(find_java)" || { echo '{"ok":false,"error":"no JDK 25 and no gpu/runtime.tar.xz (run gpu/prepare.sh --with-runtime)"}' > "$OUT/gpu-run.json"; exit 2; }
if [ -d gpu/app ]; then CP="gpu/app/classes:gpu/app/lib/*"; else CP="cli/target/classes:cli/target/lib/*"; fi
if [ -d gpu/app/test ]; then TEST_CP="gpu/app/test/classes:gpu/app/test/lib/*:$CP"
else TEST_CP="engine-cuda/target/test-classes:engine-cuda/target/gpu-test-lib/*:$CP"; fi
dsv2() {
  timeout 540 "$JAVA" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -Xmx16g \
    -Djava.util.logging.config.file=cli/src/main/resources/logging.properties -cp "$CP" dev.dsv2.cli.Main "$@"
}

STEPS=""
ALL_OK=true
# step NAME EXPECTED_EXIT GREP_STDERR_OR_EMPTY -- ARGS...: runs the CLI, records exit, stdout and stderr.
step() {
  local name="$1" expect="$2" pattern="$3"; shift 4
  local t0=$SECONDS
  dsv2 "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
  local rc=$?
  local ok=true
  [ "$rc" = "$expect" ] || ok=false
  if [ -n "$pattern" ] && ! grep -q -- "$pattern" "$OUT/$name.err"; then ok=false; fi
  $ok || ALL_OK=false
  STEPS="$STEPS${STEPS:+,}{\"name\":\"$name\",\"exit\":$rc,\"expected_exit\":$expect,\"ok\":$ok,\"seconds\":$((SECONDS - t0))}"
  echo "gpu/run.sh: $name exit $rc (expected $expect): $($ok && echo ok || echo FAILED)" >&2
}

nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader > "$OUT/nvidia-smi.txt" 2>&1
"$JAVA" -version > "$OUT/java-version.txt" 2>&1
step selfcheck-lite 0 "" -- selfcheck --device cuda --preset lite-layers:1 --json
step selfcheck-tiny-v2 0 "" -- selfcheck --device cuda --preset tiny-v2 --json
t0=$SECONDS
timeout 540 "$JAVA" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -Xmx16g \
  -cp "$TEST_CP" dev.dsv2.engine.cuda.GpuTestMain "$OUT/gpu-tests.json" > "$OUT/gpu-tests.out" 2> "$OUT/gpu-tests.err"
rc=$?
ok=true; [ "$rc" = 0 ] || { ok=false; ALL_OK=false; }
STEPS="$STEPS${STEPS:+,}{\"name\":\"gpu-tests\",\"exit\":$rc,\"expected_exit\":0,\"ok\":$ok,\"seconds\":$((SECONDS - t0))}"
echo "gpu/run.sh: gpu-tests exit $rc (expected 0): $($ok && echo ok || echo FAILED)" >&2
dsv2 make-model "$WORK/tiny" --preset tiny --seed 3 > "$OUT/make-model.out" 2>&1
step generate-cuda 0 "" -- generate --model "$WORK/tiny" --prompt-ids 1,5,9 \
  --max-tokens 4 --temperature 0 --json --device cuda
step generate-auto-cuda 0 "device auto -> cuda:0" -- generate --model "$WORK/tiny" --prompt-ids 1,5,9 \
  --max-tokens 4 --temperature 0 --json --device auto
step bench-cuda 0 "" -- bench --device cuda --preset lite-layers:4 --json

GPU="$(head -1 "$OUT/nvidia-smi.txt" | sed 's/"/\\"/g')"
printf '{"ok":%s,"gpu":"%s","java":"%s","steps":[%s]}\n' "$ALL_OK" "$GPU" "$JAVA" "$STEPS" > "$OUT/gpu-run.json"
cat "$OUT/gpu-run.json"
$ALL_OK
