set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s10c5.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/*.cuh src/cuda/gemm/*.cu src/cuda/gemm/*.inc tests/gpu/*.cu
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
git log --oneline -1 > $OUT/commit.txt; git status --short >> $OUT/commit.txt
timeout 240 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -30
cuobjdump --dump-sass build-gpu/sparse24 2>/dev/null | grep -oE "(HGMMA|QGMMA|IGMMA)\.SP\.[0-9x]+" | sort | uniq -c > $OUT/sass_gmma.txt; cat $OUT/sass_gmma.txt | tr '\n' ' '; echo
timeout 100 compute-sanitizer --tool racecheck build-gpu/test_gpu_linear_sm90 --gtest_filter='*RegisterEpilogueEqualsStagedEpilogue*' > $OUT/racecheck_sm90.log 2>&1; echo "racecheck rc=$? at $((SECONDS-T0)) s"; grep -E "RACECHECK SUMMARY|hazard|PASSED|FAILED" $OUT/racecheck_sm90.log | head -5
mkdir -p $OUT/bert
timeout 100 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --json $OUT/bert/bert_base.json > $OUT/bert/bert_base.log 2>&1; echo "bert rc=$? at $((SECONDS-T0)) s"
PYTHONUNBUFFERED=1 timeout 150 python3 scripts/torch_bert_compare.py --batches 4,16,64,256 --seq 384 --json $OUT/bert/torch.json --ours $OUT/bert/bert_base.json > $OUT/bert/torch.log 2>&1; echo "torch rc=$? at $((SECONDS-T0)) s"; tail -8 $OUT/bert/torch.log
echo "all at $((SECONDS-T0)) s"
