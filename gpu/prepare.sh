#!/usr/bin/env bash
# Prepares, on the development machine, everything gpu/run.sh needs on a GPU machine that has no internet access:
#   gpu/app/classes, gpu/app/lib/*.jar   the CLI and its runtime class path (engine, engine-cuda with the committed
#                                         cubins/PTX, JCuda + its linux-x86_64 natives), ~20 MiB
#   gpu/app/test/classes, test/lib/*.jar  engine-cuda's test classes (the GPU tests and GpuTestMain, their runner)
#                                         and the JUnit platform jars, ~2 MiB
#   gpu/runtime.tar.xz  (--with-runtime)  a jlink'ed JDK 25 runtime (~45 MiB unpacked, ~21 MiB packed), for GPU
#                                         machines without a JDK 25; gpu/run.sh unpacks it when it finds no JDK 25
# Then run on the GPU machine, from the repository root: OUT=/some/dir bash gpu/run.sh
# With the device tool: carry ["gpu/app", "gpu/runtime.tar.xz"] (about 41 MiB together, under its 64 MiB limit).
# The runtime is built with:
#   jlink --add-modules java.base,java.logging,java.management,jdk.management,jdk.incubator.vector,jdk.unsupported \
#         --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output DIR
# (the modules jdeps reports for the CLI, engine and engine-cuda, plus jdk.unsupported for the libraries).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${JAVA_HOME:=/usr/lib/jvm/temurin-25-jdk-amd64}"
export JAVA_HOME
./mvnw -B -q -o -pl cli -am -DskipTests package
rm -rf gpu/app
mkdir -p gpu/app/lib
cp -r cli/target/classes gpu/app/classes
cp cli/target/lib/*.jar gpu/app/lib/
./mvnw -B -q -o -pl engine-cuda dependency:copy-dependencies -DincludeScope=test \
    -DincludeGroupIds=org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian \
    -DoutputDirectory=target/gpu-test-lib
mkdir -p gpu/app/test/lib
cp -r engine-cuda/target/test-classes gpu/app/test/classes
cp engine-cuda/target/gpu-test-lib/*.jar gpu/app/test/lib/
echo "gpu/app: $(du -sh gpu/app | cut -f1)"
if [ "${1:-}" = "--with-runtime" ]; then
  rm -rf gpu/.runtime-build gpu/runtime.tar.xz
  "$JAVA_HOME/bin/jlink" --add-modules \
      java.base,java.logging,java.management,jdk.management,jdk.incubator.vector,jdk.unsupported \
      --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output gpu/.runtime-build
  tar cJf gpu/runtime.tar.xz -C gpu/.runtime-build .
  rm -rf gpu/.runtime-build
  echo "gpu/runtime.tar.xz: $(du -sh gpu/runtime.tar.xz | cut -f1)"
fi
