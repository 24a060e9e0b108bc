#!/usr/bin/env bash
# install-plugins.sh — put the XLA PJRT plugins gostudy runs on into plugins/.
#
# CPU:  pjrt_c_api_cpu_plugin.so from a PyPI wheel pinned by version and sha256 (GitHub,
#       where GoMLX's own installer downloads from, is not needed).
# CUDA: when an NVIDIA GPU is present, pjrt_c_api_cuda_plugin.so -> the plugin of the
#       jax-cuda13-pjrt (or jax-cuda12-pjrt, by driver) wheel, with the NVIDIA library
#       wheels it loads, under plugins/cuda/ — or, with --cuda-from-jax, a symlink to the
#       plugin of a JAX that is already installed.
#
# Idempotent: a plugin whose recorded sha256 still matches is left alone. Files are
# replaced by rename, so processes that already loaded a plugin keep their copy.
#
# Usage: scripts/install-plugins.sh [options]
#   --dir DIR              install into DIR (default: $GOSTUDY_PLUGINS, else <repo>/plugins)
#   --cuda auto|13|12|no   CUDA plugin: by driver version when a GPU is found (default auto)
#   --cuda-from-jax X      link the CUDA plugin of an installed JAX; X is a python executable
#                          or a site-packages folder (no download)
#   --no-cpu               skip the CPU plugin
#   --python PY            python whose pip downloads (default: $PYTHON, .venv, python3)
#   --dry-run              print the plan (platform, GPU, wheels) and change nothing
# Test hooks: NVIDIA_SMI (command), GOSTUDY_PROC_NVIDIA (folder), GOSTUDY_ARCH (uname -m).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Pinned wheels. The .so hashes are of the plugin file inside each wheel.
CPU_X86_PKG=lammps-jax-pjrt-cpu CPU_X86_VER=0.11.2 CPU_X86_PLAT=manylinux_2_27_x86_64
CPU_X86_WHL_SHA=1319390d948b39f69f7dade496b7c385149d9ca6097a6b62114da113216d9ad1
CPU_X86_MEMBER=lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so
CPU_X86_SO_SHA=ad1309ac822b1b24d51b7f9947c7c9fa9ef5d67f390584cbc3d1fa2428fed9c2
# lammps-jax-pjrt-cpu has no aarch64 wheel; xla-cpu-pjrt (PJRT C API v0.81) has one.
CPU_ARM_PKG=xla-cpu-pjrt CPU_ARM_VER=0.0.1 CPU_ARM_PLAT=manylinux_2_27_aarch64
CPU_ARM_WHL_SHA=8f613be6e891858f40d64f9799319502fff42689661944fc18a6ffd8210b30c9
CPU_ARM_MEMBER=xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so
CPU_ARM_SO_SHA=fcf411f3e8ff635c2b2cf87215aa7016f460e66d236c3db08309e7486583532d

JAX_CUDA_VER=0.11.2   # GoMLX v0.28.2 xla:cuda was verified with jax-cuda13-pjrt 0.11.2
CUDA13_SO_SHA=43d3efd6fd43d8a5d9aa67176e830d81e4ad5fc19fda4ad09cdcc4aebd9f3920
CUDA12_SO_SHA=ed4d60d77427548709ca0b5a8e04c1b24cc0091452bb564e4aea01e03ae7eac1
# The NVIDIA wheels jax-cuda1X-plugin[with-cuda]==0.11.2 requires, held to one CUDA major.
CUDA13_LIBS=(
  "nvidia-cublas>=13.0.0.19,<14" "nvidia-cuda-cupti>=13.0.48,<14" "nvidia-cuda-nvcc>=13.0.48,<14"
  "nvidia-cuda-runtime>=13.0.48,<14" "nvidia-cudnn-cu13>=9.12.0.46,<10" "nvidia-cufft>=12.0.0.15,<13"
  "nvidia-cusolver>=12.0.3.29,<13" "nvidia-cusparse>=12.6.2.49,<13" "nvidia-nccl-cu13>=2.27.7,<3"
  "nvidia-nvjitlink>=13.0.39,<14" "nvidia-cuda-nvrtc>=13.0.48,<14" "nvidia-nvshmem-cu13>=3.3.20,<4"
  "nvidia-nvvm<14"
)
CUDA12_LIBS=(
  "nvidia-cublas-cu12>=12.1.3.1" "nvidia-cuda-cupti-cu12>=12.1.105" "nvidia-cuda-nvcc-cu12>=12.6.85"
  "nvidia-cuda-runtime-cu12>=12.1.105" "nvidia-cudnn-cu12>=9.10.2.21,<10" "nvidia-cufft-cu12>=11.0.2.54"
  "nvidia-cusolver-cu12>=11.4.5.107" "nvidia-cusparse-cu12>=12.1.0.106" "nvidia-nccl-cu12>=2.18.1"
  "nvidia-nvjitlink-cu12>=12.1.105" "nvidia-cuda-nvrtc-cu12>=12.1.55" "nvidia-nvshmem-cu12>=3.2.5"
)
# Minimum drivers: CUDA 13 needs the r580 driver, CUDA 12 the r525 one.
CUDA13_MIN_DRIVER=580 CUDA12_MIN_DRIVER=525

DIR=${GOSTUDY_PLUGINS:-$REPO/plugins}
CUDA_MODE=auto FROM_JAX="" DO_CPU=1 DRY=0 PY=${PYTHON:-}
NVIDIA_SMI=${NVIDIA_SMI:-nvidia-smi}
PROC_NVIDIA=${GOSTUDY_PROC_NVIDIA:-/proc/driver/nvidia}
ARCH=${GOSTUDY_ARCH:-$(uname -m)}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
CLEANUP=()
trap 'rm -rf "${CLEANUP[@]}"' EXIT
say() { echo "install-plugins: $*"; }
die() { echo "install-plugins: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
    --dir) DIR=$2; shift 2 ;;
    --cuda) CUDA_MODE=$2; shift 2 ;;
    --cuda-from-jax) FROM_JAX=$2; shift 2 ;;
    --no-cpu) DO_CPU=0; shift ;;
    --python) PY=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case $CUDA_MODE in auto|13|12|no) ;; *) die "--cuda takes auto, 13, 12 or no, not $CUDA_MODE" ;; esac

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

pick_python() {
  [ -n "$PY" ] && return
  if [ -x "$REPO/.venv/bin/python" ]; then PY=$REPO/.venv/bin/python
  elif command -v python3 >/dev/null; then PY=python3
  else die "python3 with pip is needed to download the plugin wheels from PyPI"; fi
}

# installed FILE SHA: FILE exists and its recorded hash (FILE.sha256) is SHA and still true.
installed() {
  local file=$1 want=$2
  [ -f "$file" ] && [ -f "$file.sha256" ] || return 1
  [ "$(cut -d' ' -f1 "$file.sha256")" = "$want" ] || return 1
  [ "$(sha256 "$file")" = "$want" ]
}

record() { # record FILE SHA WHEEL-LINE
  echo "$2  $(basename "$1")" >"$1.sha256"
  echo "$3" >"$1.wheel"
}

# ---------------------------------------------------------------- CPU
install_cpu() {
  local os pkg ver plat whl_sha member so_sha
  os=$(uname -s)
  case "$os/$ARCH" in
    Linux/x86_64|Linux/amd64)
      pkg=$CPU_X86_PKG ver=$CPU_X86_VER plat=$CPU_X86_PLAT whl_sha=$CPU_X86_WHL_SHA
      member=$CPU_X86_MEMBER so_sha=$CPU_X86_SO_SHA ;;
    Linux/aarch64|Linux/arm64)
      pkg=$CPU_ARM_PKG ver=$CPU_ARM_VER plat=$CPU_ARM_PLAT whl_sha=$CPU_ARM_WHL_SHA
      member=$CPU_ARM_MEMBER so_sha=$CPU_ARM_SO_SHA ;;
    *)
      say "no pinned CPU PJRT plugin wheel for $os/$ARCH: gostudy will use the pure-Go backend"
      return 0 ;;
  esac
  local target=$DIR/pjrt_c_api_cpu_plugin.so
  local line="$pkg==$ver ($plat) sha256:$whl_sha"
  if [ $DRY = 1 ]; then say "cpu: would install $target from $line"; return 0; fi
  if installed "$target" "$so_sha"; then say "cpu: $target already installed ($pkg==$ver)"; return 0; fi
  if [ -f "$target" ] && [ "$(sha256 "$target")" = "$so_sha" ]; then
    record "$target" "$so_sha" "$line"
    say "cpu: $target matches $pkg==$ver; recorded its hash"
    return 0
  fi
  pick_python
  local tmp; tmp=$(mktemp -d "$DIR/.cpu-download.XXXXXX"); CLEANUP+=("$tmp")
  say "cpu: downloading $pkg==$ver from PyPI"
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --platform "$plat" \
    --disable-pip-version-check -d "$tmp" "$pkg==$ver" || die "pip download $pkg==$ver failed"
  local whl; whl=$(ls "$tmp"/*.whl 2>/dev/null | head -n1)
  [ -n "$whl" ] || die "pip download $pkg==$ver left no wheel"
  [ "$(sha256 "$whl")" = "$whl_sha" ] || die "$(basename "$whl"): sha256 $(sha256 "$whl") is not the pinned $whl_sha"
  "$PY" - "$whl" "$member" "$tmp/plugin.so" <<'EOF' || die "extract the plugin from the wheel"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
  [ "$(sha256 "$tmp/plugin.so")" = "$so_sha" ] || die "the plugin in $(basename "$whl") does not have the pinned sha256 $so_sha"
  chmod 755 "$tmp/plugin.so"
  mv -f "$tmp/plugin.so" "$target"
  record "$target" "$so_sha" "$line"
  say "cpu: installed $target ($pkg==$ver)"
}

# ---------------------------------------------------------------- CUDA
# gpu_driver prints the NVIDIA driver version ("580.65.06"), "unknown" when a GPU is
# present but the version is unreadable, and fails when there is no GPU.
gpu_driver() {
  local v
  if command -v "$NVIDIA_SMI" >/dev/null 2>&1 &&
     v=$("$NVIDIA_SMI" --query-gpu=driver_version --format=csv,noheader 2>/dev/null) && [ -n "$v" ]; then
    echo "${v%%$'\n'*}"; return 0
  fi
  if [ -d "$PROC_NVIDIA" ]; then
    # "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  ...": the first dotted number.
    v=$(head -n1 "$PROC_NVIDIA/version" 2>/dev/null | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n1 || true)
    echo "${v:-unknown}"; return 0
  fi
  return 1
}

# cuda_major_for_driver VERSION prints 13 or 12, or fails for a driver too old.
cuda_major_for_driver() {
  local major=${1%%.*}
  if [ "$1" = unknown ]; then echo 13; return 0; fi
  if [ "$major" -ge $CUDA13_MIN_DRIVER ]; then echo 13
  elif [ "$major" -ge $CUDA12_MIN_DRIVER ]; then echo 12
  else return 1; fi
}

# write_cuda_env SITE: the environment lines a GPU run needs, for scripts to source.
write_cuda_env() {
  local site=$1 libs="" d
  for d in "$site"/nvidia/*/lib; do [ -d "$d" ] && libs+="$d:"; done
  cat >"$DIR/cuda.env" <<EOF
# Written by scripts/install-plugins.sh. Source it before running a gostudy binary on the GPU.
export PJRT_PLUGIN_LIBRARY_PATH="$DIR" GOPJRT_CUDA_CHECKS=0 GOMLX_NO_AUTO_INSTALL=1
export LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:-}"
EOF
}

# link_from_jax X: symlink the CUDA plugin of an installed JAX (X: python or site-packages).
link_from_jax() {
  local x=$1 site="" plugin="" major
  if [ -d "$x" ]; then site=$(cd "$x" && pwd)
  else
    command -v "$x" >/dev/null 2>&1 || die "--cuda-from-jax: $x is neither a folder nor a python"
    site=$("$x" - <<'EOF'
import importlib.util, os
spec = importlib.util.find_spec("jax_plugins")
print(os.path.dirname(list(spec.submodule_search_locations)[0]) if spec else "")
EOF
) || die "--cuda-from-jax: $x could not look up jax_plugins"
    [ -n "$site" ] || die "--cuda-from-jax: $x has no jax_plugins package (pip install jax[cuda13])"
  fi
  for major in 13 12; do
    if [ -f "$site/jax_plugins/xla_cuda$major/xla_cuda_plugin.so" ]; then
      plugin=$site/jax_plugins/xla_cuda$major/xla_cuda_plugin.so; break
    fi
  done
  [ -n "$plugin" ] || die "--cuda-from-jax: no jax_plugins/xla_cuda{13,12}/xla_cuda_plugin.so in $site"
  if [ $DRY = 1 ]; then say "cuda: would link $DIR/pjrt_c_api_cuda_plugin.so -> $plugin"; return 0; fi
  ln -sfn "$plugin" "$DIR/pjrt_c_api_cuda_plugin.so"
  local ver; ver=$(ls -d "$site"/jax_cuda${major}_pjrt-*.dist-info 2>/dev/null | sed -n 's/.*_pjrt-\(.*\)\.dist-info/\1/p' | head -n1)
  echo "jax-cuda${major}-pjrt==${ver:-unknown} (linked from $site)" >"$DIR/pjrt_c_api_cuda_plugin.so.wheel"
  rm -f "$DIR/pjrt_c_api_cuda_plugin.so.sha256"
  write_cuda_env "$site"
  say "cuda: linked $DIR/pjrt_c_api_cuda_plugin.so -> $plugin"
  [ -d "$site/nvidia" ] || say "cuda: warning: $site/nvidia is missing; pip install jax[cuda$major] brings the NVIDIA libraries"
}

install_cuda() {
  if [ -n "$FROM_JAX" ]; then link_from_jax "$FROM_JAX"; return 0; fi
  [ "$CUDA_MODE" = no ] && return 0
  local driver major
  if ! driver=$(gpu_driver); then
    say "cuda: no NVIDIA GPU ($NVIDIA_SMI lists none and $PROC_NVIDIA is missing): skipping the CUDA plugin"
    return 0
  fi
  if [ "$CUDA_MODE" = auto ]; then
    major=$(cuda_major_for_driver "$driver") ||
      { say "cuda: driver $driver is older than r$CUDA12_MIN_DRIVER (CUDA 12): skipping the CUDA plugin"; return 0; }
  else
    major=$CUDA_MODE
  fi
  say "cuda: NVIDIA GPU found, driver $driver: CUDA $major plugin (jax-cuda${major}-pjrt==$JAX_CUDA_VER)"
  local so_sha libs
  if [ "$major" = 13 ]; then so_sha=$CUDA13_SO_SHA libs=("${CUDA13_LIBS[@]}")
  else so_sha=$CUDA12_SO_SHA libs=("${CUDA12_LIBS[@]}"); fi
  case "$(uname -s)/$ARCH" in
    Linux/x86_64|Linux/amd64) ;;
    *) say "cuda: pinned CUDA wheels are for Linux x86-64 only; on $ARCH install jax[cuda$major] and use --cuda-from-jax"
       return 0 ;;
  esac
  local rel=cuda/jax_plugins/xla_cuda$major/xla_cuda_plugin.so
  if [ $DRY = 1 ]; then
    say "cuda: would pip install jax-cuda${major}-pjrt==$JAX_CUDA_VER ${libs[*]} into $DIR/cuda"
    say "cuda: would link $DIR/pjrt_c_api_cuda_plugin.so -> $rel"
    return 0
  fi
  if [ "$(readlink "$DIR/pjrt_c_api_cuda_plugin.so" 2>/dev/null)" = "$rel" ] && installed "$DIR/$rel" "$so_sha"; then
    say "cuda: already installed ($rel)"; return 0
  fi
  pick_python
  local tmp; tmp=$(mktemp -d "$DIR/.cuda-download.XXXXXX"); CLEANUP+=("$tmp")
  say "cuda: downloading the CUDA $major plugin and NVIDIA libraries from PyPI (several GB)"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-compile --only-binary=:all: \
    --target "$tmp/cuda" "jax-cuda${major}-pjrt==$JAX_CUDA_VER" "${libs[@]}" || die "pip install of the CUDA wheels failed"
  [ "$(sha256 "$tmp/$rel")" = "$so_sha" ] || die "$rel does not have the pinned sha256 $so_sha"
  rm -rf "$DIR/cuda.old"
  [ -d "$DIR/cuda" ] && mv "$DIR/cuda" "$DIR/cuda.old"
  mv "$tmp/cuda" "$DIR/cuda"
  ln -sfn "$rel" "$DIR/pjrt_c_api_cuda_plugin.so"
  record "$DIR/$rel" "$so_sha" "jax-cuda${major}-pjrt==$JAX_CUDA_VER"
  echo "jax-cuda${major}-pjrt==$JAX_CUDA_VER (pip, into $DIR/cuda)" >"$DIR/pjrt_c_api_cuda_plugin.so.wheel"
  write_cuda_env "$DIR/cuda"
  rm -rf "$DIR/cuda.old"
  say "cuda: installed $DIR/pjrt_c_api_cuda_plugin.so -> $rel"
}

# ---------------------------------------------------------------- main
if [ $DRY = 0 ]; then
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  # One installer at a time per folder (setup.sh and a test may race).
  if command -v flock >/dev/null; then exec 9>"$DIR/.install.lock"; flock 9; fi
fi
say "platform $(uname -s)/$ARCH, plugins folder $DIR"
if [ $DO_CPU = 1 ]; then install_cpu; fi
install_cuda
