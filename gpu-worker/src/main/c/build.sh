#!/bin/sh
# Builds libtroupe_kernels.so into $2 with the JNI headers of the JDK at $1 (Maven passes java.home and the
# classes folder, so the library ships inside the gpu-worker jar). Baseline x86-64 code: the AVX-512 functions
# carry their own target attributes and run only after cpuLevel() has checked the CPU. TROUPE_NATIVE_CFLAGS adds
# compiler flags (for experiments, e.g. -DPREFETCH=4).
set -eu
jdk="$1"
out="$2/dev/troupe/engine/kernel/native/linux-x86_64"
mkdir -p "$out"
exec gcc -O3 -fPIC -shared -ffp-contract=off -Wall -Wextra -Wno-unused-parameter -Werror \
  -I"$jdk/include" -I"$jdk/include/linux" ${TROUPE_NATIVE_CFLAGS:-} \
  -o "$out/libtroupe_kernels.so" "$(dirname "$0")/troupe_kernels.c"
