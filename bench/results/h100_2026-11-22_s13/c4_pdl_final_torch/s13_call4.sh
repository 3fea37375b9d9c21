set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s13c4.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1; git status --short >> $OUT/commit.txt
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
for o in build-gpu/CMakeFiles/sparse24.dir/src/model/bert_cuda.cu.o build-gpu/CMakeFiles/sparse24.dir/src/cuda/gemm/sparse_gemm_sm90.cu.o; do
  echo "$o: ACQBULK $(cuobjdump --dump-sass $o 2>/dev/null | grep -c ACQBULK)  PREEXIT $(cuobjdump --dump-sass $o 2>/dev/null | grep -c PREEXIT)"
done
timeout 240 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
B=build-gpu/sparse24
mkdir -p $OUT/bert
for r in 1; do
  for pdl in 1 0; do
    S24_PDL=$pdl timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/pdl${pdl}_$r.log 2>&1; echo "bert pdl=$pdl run $r rc=$? at $((SECONDS-T0)) s"
    grep -E '^ +(4|16|64|256) +384' $OUT/bert/pdl${pdl}_$r.log | cut -c1-96
  done
done
timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --json $OUT/bert/bert_base.json > $OUT/bert/bert_base.log 2>&1; echo "bert json rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(4|16|64|256) +384' $OUT/bert/bert_base.log | cut -c1-96
PYTHONUNBUFFERED=1 timeout 170 python3 scripts/torch_bert_compare.py --batches 4,16,64,256 --seq 384 --json $OUT/bert/torch.json --ours $OUT/bert/bert_base.json > $OUT/bert/torch.log 2>&1; echo "torch rc=$? at $((SECONDS-T0)) s"; tail -12 $OUT/bert/torch.log
echo "all at $((SECONDS-T0)) s"
