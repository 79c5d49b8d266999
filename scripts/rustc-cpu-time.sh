#!/bin/bash
# RUSTC_WRAPPER for measuring a build: appends "user_s sys_s crate" of every rustc run to $CDG_TIME_LOG
# (BENCHMARKS.md, "Build time").
rustc="$1"; shift
name=unknown
prev=""
for a in "$@"; do
  if [ "$prev" = "--crate-name" ]; then name="$a"; fi
  prev="$a"
done
# cargo probes rustc with -vV / --print; record those too, as "probe"
[ "$name" = unknown ] && name=probe
exec /usr/bin/time -a -o "${CDG_TIME_LOG:?}" -f "%U %S $name" "$rustc" "$@"
