#!/bin/sh
# Rebuild, on a fresh machine, every file the v3 configs and the waypoint command read that is not in
# git (docs/training.md "Carrying a run to another machine"): the labelled sets' photos (sha256-checked,
# tools/rebuild_real.py), mmpose's real-GT fixtures (evaluation only, tools/rebuild_fixtures.sh), the
# three synthetic training sets and the synthetic evaluation set (`smhr synth`, fixed seeds).
# ~9 minutes on 2 cores. Sets already there are kept (photos re-checked, synthetic folders skipped).
#
# Usage: tools/prepare_training_data.sh MIRRORS DATA
#   MIRRORS: git mirrors named owner+name (the search tool's fetch, or `git clone --bare
#            https://github.com/OWNER/NAME MIRRORS/OWNER+NAME`) of the repositories in labels/*/meta.json
#            and open-mmlab/mmpose.
#   DATA:    where the data goes; labels/*/meta.json expect the photos under /work/data/real, so use
#            DATA=/work/data (else pass bench_real.py --image-base DATA/real and set
#            data.shared.photos.image_roots). The configs read data/synth-*: `ln -s DATA data`.
# Needs the project installed (`smhr` on PATH, or SMHR=path/to/smhr; PYTHON for the tools).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 MIRRORS DATA" >&2; exit 2; }
MIRRORS=$1
DATA=$2
PYTHON=${PYTHON:-python}
SMHR=${SMHR:-smhr}
cd "$(dirname "$0")/.."
mkdir -p "$DATA"
"$PYTHON" tools/rebuild_real.py labels/* --out "$DATA/real" --mirrors "$MIRRORS"
MMPOSE=$("$PYTHON" -c 'import sys; from pathlib import Path; sys.path.insert(0, "tools")
from rebuild_real import find_git_dir
print(find_git_dir(Path(sys.argv[1]), "open-mmlab/mmpose") or "")' "$MIRRORS")
[ -n "$MMPOSE" ] || { echo "error: no mirror of open-mmlab/mmpose under $MIRRORS (fetch it first)" >&2; exit 1; }
sh tools/rebuild_fixtures.sh "$MMPOSE" "$DATA/mmpose"
synth() {  # NAME ARGS...: one synthetic set unless it is already complete
    name=$1; shift
    if [ -f "$DATA/$name/meta.json" ]; then echo "$DATA/$name: already there"; return; fi
    "$SMHR" synth "$DATA/$name" --res 224 --side right --device cpu "$@"
}
synth synth-base --n 800 --n-eval 0 --seed 11
synth synth-arm --n 800 --n-eval 0 --seed 11 --arm-prob 0.8
synth synth-gloves --n 800 --n-eval 0 --seed 11 --glove-prob 0.4
synth synth-eval --n 1 --n-eval 200 --seed 907
echo "data ready in $DATA"
