set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c8.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/* src/cuda/arch/* tests/gpu/*.cu
s24_build || exit 1
echo "built at $((SECONDS-T0)) s"
cuobjdump --dump-sass build-gpu/sparse24 2>/dev/null | grep -oE "(HGMMA|QGMMA|IGMMA)\.SP\.[0-9x]+|ACQBULK|PREEXIT" | sort | uniq -c > $OUT/sass.txt; cat $OUT/sass.txt | tr '\n' ' '; echo
timeout 200 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
cp build-gpu/Testing/Temporary/LastTest.log $OUT/ 2>/dev/null
mkdir -p $OUT/bert
timeout 100 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --json $OUT/bert/bert_base.json > $OUT/bert/bert_base.log 2>&1; echo "bert rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(4|16|64|256) +384' $OUT/bert/bert_base.log
PYTHONUNBUFFERED=1 timeout 150 python3 scripts/torch_bert_compare.py --batches 4,16,64,256 --seq 384 --json $OUT/bert/torch.json --ours $OUT/bert/bert_base.json > $OUT/bert/torch.log 2>&1; echo "torch rc=$? at $((SECONDS-T0)) s"; tail -8 $OUT/bert/torch.log
timeout 60 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 20 > $OUT/bert/bert_base_again.log 2>&1; grep -E '^ +(16|64|256) +384' $OUT/bert/bert_base_again.log
echo "bert done at $((SECONDS-T0)) s"
mkdir -p $OUT/sweep
timeout 150 build-gpu/sparse24 bench --filter bert- --target-ms 30 --out $OUT/sweep > $OUT/sweep/sweep.log 2>&1; echo "sweep rc=$? at $((SECONDS-T0)) s"
grep -E "^bert" $OUT/sweep/sweep.log | tail -30
echo "all at $((SECONDS-T0)) s"
