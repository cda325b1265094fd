#!/bin/sh
# Rebuild the real-ground-truth hand fixtures of mmpose (tests/data: OneHand10K, CMU Panoptic,
# FreiHAND 2D, RHD, InterHand2.6M with 3D joints and cameras) that benchmarks/bench_real.py
# --gt-root scores. They come under their datasets' research licences: evaluation only, never in
# git. Usage: tools/rebuild_fixtures.sh MMPOSE_GIT_DIR OUT   (OUT/tests/data/... is written)
#   MMPOSE_GIT_DIR: a clone or bare mirror of https://github.com/open-mmlab/mmpose holding COMMIT.
# Every file is checked against the sha256 below; exit code 1 on any difference.
set -eu
COMMIT=759b39c13fea6ba094afc1fa932f51dc1b11cbf9
GIT_DIR=$1
OUT=$2
mkdir -p "$OUT"
git --git-dir="$GIT_DIR" archive "$COMMIT" tests/data/onehand10k tests/data/panoptic tests/data/freihand \
    tests/data/rhd tests/data/interhand2.6m | tar -x -C "$OUT"
cd "$OUT"
sha256sum -c --quiet <<'SUMS'
b4dd1f1f7e3d0b0ea543e325e24f8530e4a93b30302303e20a21c8b950e08df7  tests/data/onehand10k/1402.jpg
b5254e551504589aa8e56a878f6db7e224d065cbc61b2b1f0dc7f0ae9cd6fb0f  tests/data/onehand10k/33.jpg
0891175da290dcf46c5138dc3051501afd8a048d7aaab24b56356c8ed39f76e8  tests/data/onehand10k/784.jpg
3943863e90a6e31b6e9398ce5c6fb319069f5243aa7758f0deab97a9d760cf5b  tests/data/onehand10k/9.jpg
1e133641ba9c3e4eb8c14fb46ba15e40b244a9d69e81bd604c447162e86819ff  tests/data/onehand10k/test_onehand10k.json
5996147885d52f8f97e55e2f4d76d6b6bcb7e5ede25803dba78573df8ad4bb3d  tests/data/panoptic/005880453_01_l.jpg
5996147885d52f8f97e55e2f4d76d6b6bcb7e5ede25803dba78573df8ad4bb3d  tests/data/panoptic/005880453_01_r.jpg
0810f078716a74a598a990196ec3072309a69c92959a2a4e7ed84d5dd150689c  tests/data/panoptic/ex2_2.flv_000040_l.jpg
0810f078716a74a598a990196ec3072309a69c92959a2a4e7ed84d5dd150689c  tests/data/panoptic/ex2_2.flv_000040_r.jpg
ca98bcf3884ac6e4bf20221befad28c2e55e3e434e54e5c5fddcb620b1dbc27b  tests/data/panoptic/test_panoptic.json
58b7716e63f58ed424d2079ee36a20173db8ece0c81eb40dbd9783aa533609fa  tests/data/freihand/00000355.jpg
7f893ee84b69a303ca21995e6189108f6df08a582ec2bd39397026a2830acb2a  tests/data/freihand/00017620.jpg
f657d44968168fd4dda407db8bae613f9d5887dfdc50f5aa44be9a63b9a2ef0a  tests/data/freihand/00032915.jpg
53ea98a55cf6fa74ee82430eb60abbe856a35a39f335211fea2e679e4e8e2ab0  tests/data/freihand/00050180.jpg
df5003c9e928ea91818447b6b13a491121299c8e74a95f408f9fbdb1c75820ce  tests/data/freihand/00065475.jpg
2e7850952676f6e3a125de998e37f6287eb51c0e5766abb0ce9ec0cb06d121ee  tests/data/freihand/00082740.jpg
c0fe922724fa7c478d868e3d53b9021c42d331c091ba2660bb0fe6c24bf71999  tests/data/freihand/00098035.jpg
ab83441ed1f9000c95838d7f96316bffd4c7e908ae02691f8a9f4f2030818407  tests/data/freihand/00115300.jpg
8c1be20ebee8598557614525820f566a4504a43bded7ecc53e839df3d71a315a  tests/data/freihand/test_freihand.json
253418fc29d69fda3336e3746fe442c0b61f7aa181ea3edb90e09506028b555d  tests/data/rhd/00111.png
68f729143a2aed60ade72f9ddb39eab5792c8b578809d8628b664ef2bdab4ec5  tests/data/rhd/01111.png
153d344a82b0c2423454481ce8c9b72cdde85f567dc71d56130c11d845e2434d  tests/data/rhd/11111.png
fb8d4dba4b05d6c68c5989d4cbece93662034bd4547f2f4a3a76f8f693e8d2df  tests/data/rhd/test_rhd.json
85c8f42a26fbfd591634b8d0ed3c15e6912fb4b152f75e90822219bb097facfb  tests/data/interhand2.6m/image2017.jpg
025140831b54c996f86e84e344e13a4493d0956c74d8e7a17ae69a8723478ea4  tests/data/interhand2.6m/image29590.jpg
2f9d885799dae9463e2dd0e3e1a3b807b918cd4db96d98cf797707d1bc6f4528  tests/data/interhand2.6m/image44669.jpg
0c53c6caac11bd33a09b963bd0ac5e8308eb783c4911abd5292eb9382731085f  tests/data/interhand2.6m/image69148.jpg
e532ff2023d0c1e23c9395f06f21856b74c6c0c397901acb75061cbac0b509e8  tests/data/interhand2.6m/test_interhand2.6m_camera.json
990492cd45c13564dfd37531c1857ac06157d17f8d6f3fe5f98ba644603fb676  tests/data/interhand2.6m/test_interhand2.6m_data.json
253cfc90a4ef2da011de56c1fe38aaa1e82df13214cd1edf1fc306ec14424809  tests/data/interhand2.6m/test_interhand2.6m_joint_3d.json
SUMS
echo "mmpose fixtures at $OUT/tests/data: sha256 ok"
