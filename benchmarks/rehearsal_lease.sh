#!/usr/bin/env bash
# The whole GPU rehearsal in one lease of one GPU: every lane side by side, each in its own copy of the repository.
# Lanes: t4 learners and t4 solutions at full 8B depth (03 04 05 06 08 09); t4 learners and solutions at 4 layers
# (01 02 07); a100 learners and solutions at 4 layers (all). Run from the repository root on the GPU machine, with the
# wheels of `make gpu-wheels` in .whl/. Starts the lanes detached (setsid) and returns; `benchmarks/rehearsal_lease.sh
# collect DIR` copies each lane's results and logs to DIR. A lease's command may run 10 minutes: poll with collect.
set -u
W=${REHEARSAL_WORK:-/tmp/rehearsal}
LANES="t4-full t4-full-sol t4-4 t4-4-sol a100 a100-sol"

if [ "${1:-}" = collect ]; then
  out=$2
  for lane in $LANES; do  # each lane's own file: its profile, and _solutions for the solutions lanes
    profile=${lane%%-*}; suffix=; case $lane in *-sol) suffix=_solutions;; esac
    f=$W/$lane/benchmarks/results/gpu_rehearsal_$profile$suffix.json
    [ -f "$f" ] && cp "$f" "$out/$lane.json"
  done
  tar -czf "$out/logs.tgz" -C "$W" $(cd "$W" && ls -d *.log */build/rehearsal-* 2>/dev/null) 2>/dev/null
  grep -h "\[rehearsal\].*: \(pass\|fail\)\|^exit" $W/*.log; df -h $W /dev/shm 2>/dev/null | tail -2; nvidia-smi --query-gpu=memory.used --format=csv
  exit 0
fi

mkdir -p "$W"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site OMP_NUM_THREADS=2 TOKENIZERS_PARALLELISM=false
# The full-depth mirror (16 GB) goes to memory where there is room: the disk holds two lanes' merged 8B models and GGUFs.
FULL=$W/mirror-full
shm_gb=$(df --output=avail -BG /dev/shm 2>/dev/null | tail -1 | tr -dc 0-9)
[ "${shm_gb:-0}" -gt 30 ] && FULL=/dev/shm/mirror-full
OUTPUTS_IN_MEMORY=0; [ "${shm_gb:-0}" -gt 90 ] && OUTPUTS_IN_MEMORY=1
FOUR=$W/mirror-4
python3 -m course_tools.rehearsal --profile t4 --mirror $FULL --notebooks "03 04 05 06 08 09" --mirror-only || exit 1
python3 -m course_tools.rehearsal --profile a100 --layers 4 --mirror $FOUR --mirror-only || exit 1

lane() {  # lane NAME ARGS...: the rehearsal in its own copy (its own outputs/, build/ and results)
  local name=$1; shift
  rm -rf "$W/$name"; mkdir -p "$W/$name"
  tar --exclude=./.whl --exclude=./build --exclude=./outputs --exclude=./.git -cf - . | tar -xf - -C "$W/$name"
  # Lesson 08 writes a merged 8B model (15 GiB) and its GGUF (8 GiB) per lane: two lanes filled the 64 GB disk on
  # 2026-12-05 and the course's own disk check stopped both. Each lane's outputs go to memory where there is room.
  if [ "$OUTPUTS_IN_MEMORY" = 1 ]; then mkdir -p "/dev/shm/outputs-$name"; ln -s "/dev/shm/outputs-$name" "$W/$name/outputs"; fi
  setsid nohup bash -c 'cd "$0" && python3 -m course_tools.rehearsal "$@" > "$0.log" 2>&1; echo "exit $? $0" >> "$0.log"' \
    "$W/$name" "$@" < /dev/null > /dev/null 2>&1 &
}
lane t4-full --profile t4 --mirror $FULL --notebooks "03 04 05 06 08 09" --jobs 3
lane t4-full-sol --profile t4 --mirror $FULL --notebooks "03 04 05 06 08 09" --jobs 3 --solutions
lane t4-4 --profile t4 --layers 4 --mirror $FOUR --notebooks "01 02 07" --jobs 3
lane t4-4-sol --profile t4 --layers 4 --mirror $FOUR --notebooks "01 02 07" --jobs 3 --solutions
lane a100 --profile a100 --layers 4 --mirror $FOUR --jobs 3
lane a100-sol --profile a100 --layers 4 --mirror $FOUR --jobs 3 --solutions
sleep 2; echo "lanes started: $LANES (mirror $FULL)"
