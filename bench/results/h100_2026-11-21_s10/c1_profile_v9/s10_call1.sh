set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s10c1.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
export S24_PROFILE_SOURCE=1
timeout 420 bash scripts/profile_gpu.sh $OUT/prof \
  "6144,768,768|WgmmaF16, __half, .{0,6}4>" \
  "6144,2304,768|WgmmaF16, __half, .{0,6}6>" \
  "98304,3072,768|WgmmaF16, __half, .{0,6}3>" \
  "98304,768,3072|WgmmaF16, __half, .{0,6}9>" \
  "6144,768,768|nvjet|xmma|cutlass" > $OUT/profile.log 2>&1
echo "profile rc=$? at $((SECONDS-T0)) s"
cat $OUT/profile.log | grep -v "^==WARNING" | head -120
python3 .devbin/rawpick.py $OUT/prof/raw*.csv
rm -f $OUT/prof/*.ncu-rep
echo "all done at $((SECONDS-T0)) s"
