set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s13c8.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
ROOT=$PWD
cmake -S . -B build-hyb -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake_hyb.log 2>&1
cmake -S .devbin/main_src -B build-main -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake_main.log 2>&1
( ninja -C build-hyb -j16 sparse24 > $OUT/build_hyb.log 2>&1; echo "hyb build rc=$?" ) &
( ninja -C build-main -j16 sparse24 > $OUT/build_main.log 2>&1; echo "main build rc=$?" ) &
wait
echo "built at $((SECONDS-T0)) s"
mkdir -p $OUT/bert
for r in 1 2; do for v in main hyb; do
  timeout 100 build-$v/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/${v}_$r.log 2>&1
  echo "== $v run $r rc=$? at $((SECONDS-T0)) s"; grep -E '^ +(4|16|64|256) +384' $OUT/bert/${v}_$r.log | cut -c1-96
done; done
for b in 16 64; do
  timeout 100 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base --launch-count 900 \
    --log-file $OUT/ncu_hyb_bs$b.csv build-hyb/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches $b --seqs 384 --repeats 1 > $OUT/ncu_hyb_bs$b.log 2>&1
  echo "== ncu hyb bs$b rc=$? at $((SECONDS-T0)) s"; python3 .devbin/ncu_seq.py $OUT/ncu_hyb_bs$b.csv | grep -A12 "== sparse" | cut -c1-110
done
for f in bs16 bs64; do for v in main hyb; do
  timeout 60 build-$v/sparse24 bench --filter "$f" --no-cusparselt --out $OUT/bench_${f}_$v > $OUT/bench_${f}_$v.log 2>&1
done; done
python3 .devbin/cmp_bench.py $OUT
echo "all at $((SECONDS-T0)) s"
