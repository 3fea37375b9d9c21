set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s16c1.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git status --short > $OUT/commit.txt 2>&1
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
CUOBJ=$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)
CHK="python3 scripts/check_wgmma_sp_sass.py --cuobjdump $CUOBJ --min-sites 400"
$CHK build-gpu/libsparse24.a > $OUT/sass_check_u2.txt 2>&1; echo "sass check u2 rc=$?"; tail -3 $OUT/sass_check_u2.txt
$CUOBJ --dump-sass build-gpu/libsparse24.a | grep -cE "[HQI]GMMA\.SP" | sed 's/^/sparse GMMA lines: /'
ctest --test-dir build-gpu -R sass --output-on-failure > $OUT/ctest_sass.log 2>&1; echo "ctest sass rc=$?"; grep -E "tests passed|Passed|Failed" $OUT/ctest_sass.log | head
mkdir -p /tmp/v && cp build-gpu/sparse24 /tmp/v/u2
python3 .devbin/s16_base_patch.py && ( time ninja -C build-gpu -j16 sparse24_cli ) > $OUT/build_base.log 2>&1; echo "base built rc=$? at $((SECONDS-T0)) s"; tail -2 $OUT/build_base.log
$CHK build-gpu/libsparse24.a > $OUT/sass_check_base.txt 2>&1; echo "sass check base rc=$?"; tail -1 $OUT/sass_check_base.txt
cp build-gpu/sparse24 /tmp/v/base
timeout 240 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest gpu rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|Failed|\*\*\*" $OUT/ctest_gpu.log | head -12
cp build-gpu/Testing/Temporary/LastTest.log $OUT/ 2>/dev/null
mkdir -p $OUT/ab
for r in 1 2; do for v in u2 base; do
  for s in 24576,2304,768 24576,768,3072 24576,3072,768,gelu 6144,768,768 8192,8192,8192; do
    [ $((SECONDS-T0)) -gt 540 ] && break 3
    timeout 30 /tmp/v/$v bench --shape $s --no-cusparselt --target-ms 100 --out /tmp/b > $OUT/ab/${v}_${s}_$r.log 2>&1
    echo "$v $r $(grep -E '^custom' $OUT/ab/${v}_${s}_$r.log | tail -1 | cut -c1-110)"
  done
  timeout 40 /tmp/v/$v bert --device cuda --arch bert-base --no-fidelity --batches 16,64 --seqs 384 > $OUT/ab/${v}_bert_$r.log 2>&1
  grep -E '^ +(16|64) +384' $OUT/ab/${v}_bert_$r.log | cut -c1-96 | sed "s/^/$v $r /"
done; done
echo "all at $((SECONDS-T0)) s"
