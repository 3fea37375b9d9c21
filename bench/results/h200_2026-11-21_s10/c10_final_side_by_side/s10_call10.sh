set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s10c10.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>/dev/null
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
mkdir -p $OUT/bert
timeout 100 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --json $OUT/bert/bert_base.json > $OUT/bert/bert_base.log 2>&1; echo "bert rc=$? at $((SECONDS-T0)) s"
PYTHONUNBUFFERED=1 timeout 150 python3 scripts/torch_bert_compare.py --batches 4,16,64,256 --seq 384 --json $OUT/bert/torch.json --ours $OUT/bert/bert_base.json > $OUT/bert/torch.log 2>&1; echo "torch rc=$? at $((SECONDS-T0)) s"; tail -8 $OUT/bert/torch.log
timeout 60 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 20 > $OUT/bert/bert_base_again.log 2>&1; grep -E '^ +(16|64|256) +384' $OUT/bert/bert_base_again.log
echo "all at $((SECONDS-T0)) s"
