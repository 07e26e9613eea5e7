# Sourced by the bench scripts: run from the repository root with the bertscope binary in $bin.

# glibc malloc that keeps freed memory instead of re-faulting it each call, as bertscope sets it
# for itself (src/api/init.cpp): the references get the same.
malloc_tunables=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_max=0

# PyTorch as a careful user runs it: passive OpenMP waiting (else its OpenMP and OpenBLAS
# threads fight), and the malloc tuning above.
torch_run() {
  env OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="${THREADS:-2}" GLIBC_TUNABLES="$malloc_tunables" \
    /usr/bin/python3 bench/pytorch_bert.py --threads "${THREADS:-2}" "$@"
}

# A random bert-base (12 x 768) in DIR unless there is one; extra arguments go to make-model.
ensure_bert_base() {
  local dir=$1
  shift
  [ -f "$dir/model.safetensors" ] && return 0
  "$bin" make-model --layers 12 --hidden 768 --heads 12 --intermediate 3072 --seed 1 \
    --vocab tests/data/bert-base-uncased/vocab.txt --out "$dir" "$@" >/dev/null
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# One top-level field of the JSON object on stdin.
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# The machine peak a `bertscope bench --json` object measured around its timing, and the GEMM
# kernel oneDNN picked (it differs between VMs of one kind), as one line.
peak_line() {
  /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); p=d['peak']; print('machine peak (%s): f32 %.0f/%.0f GFLOP/s, bf16 %.0f/%.0f (before/after)%s; linear products: %s' % (p['isa'], p['f32_gflops_before'], p['f32_gflops_after'], p['bf16_gflops_before'], p['bf16_gflops_after'], ', UNSTEADY' if p['unsteady'] else '', d.get('gemm_kernel', '?')))"
}
