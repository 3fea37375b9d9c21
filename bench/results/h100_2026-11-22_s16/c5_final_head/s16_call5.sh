set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s16c5.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi -L > $OUT/gpu.txt; cat $OUT/gpu.txt
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log); C751x: $(grep -c 'C751' $OUT/build.log)"
ctest --test-dir build-gpu -R '^sass_' --output-on-failure > $OUT/ctest_sass.log 2>&1; echo "ctest sass rc=$?"; grep -E "Test +#|tests passed" $OUT/ctest_sass.log
timeout 300 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest gpu rc=$? at $((SECONDS-T0)) s"; grep -E "Test +#|tests passed|Failed" $OUT/ctest_gpu.log | head -12
