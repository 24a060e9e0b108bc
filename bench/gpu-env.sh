# gpu-env.sh — sourced (not run) by bench/gpu.sh and scripts/gpu-check.sh on a GPU machine.
# Links the CUDA PJRT plugin of the JAX that $PY sees into $GOSTUDY_PLUGINS (no download;
# scripts/install-plugins.sh --cuda-from-jax) and exports the environment lines go-xla needs
# (plugins/cuda.env: plugin path, NVIDIA libraries, no auto-install). Needs REPO and PY.
export GOSTUDY_PLUGINS=${GOSTUDY_PLUGINS:-$REPO/plugins}
mkdir -p "$GOSTUDY_PLUGINS"
if [ ! -e "$GOSTUDY_PLUGINS/pjrt_c_api_cuda_plugin.so" ]; then
  "$REPO/scripts/install-plugins.sh" --dir "$GOSTUDY_PLUGINS" --no-cpu --cuda-from-jax "$PY" >&2
fi
# shellcheck disable=SC1091
if [ -f "$GOSTUDY_PLUGINS/cuda.env" ]; then . "$GOSTUDY_PLUGINS/cuda.env"; fi
