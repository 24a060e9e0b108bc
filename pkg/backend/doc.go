// Package backend picks the compute backend every gostudy model runs on and finds the
// XLA PJRT plugins without the user setting anything.
//
// The choice, in order: "xla:cuda" when an NVIDIA GPU and the CUDA PJRT plugin are both
// present, else "xla:cpu" when the CPU PJRT plugin is installed, else the pure-Go backend
// "go". The environment variable GOMLX_BACKEND overrides the automatic choice, and [Use]
// (the kernel's %backend magic) overrides both for the rest of the process.
//
// Plugins live in the project-local folder plugins/ (filled by scripts/install-plugins.sh)
// as pjrt_c_api_cpu_plugin.so and pjrt_c_api_cuda_plugin.so. The folder is found through
// GOSTUDY_PLUGINS, else the directories in PJRT_PLUGIN_LIBRARY_PATH, else by walking up from
// the working directory, from the executable and from this package's source to the
// directory that holds gostudy's go.mod next to a plugins/ folder.
//
// go-xla reads PJRT_PLUGIN_LIBRARY_PATH and GOMLX_NO_AUTO_INSTALL while the program
// initialises, before any gostudy code runs, so this package hands go-xla the plugin's
// absolute path instead and switches go-xla's auto-installer off directly: the installer
// downloads from GitHub, which hangs on machines without GitHub access. Both variables are
// still exported so that child processes (the kernel's runner, cells) see the same plugins.
//
// The pure-Go backend lacks a few operations (the max-pool gradient SelectAndScatterMax is
// the one lessons meet); [Explain] and [Recover] turn GoMLX's "not implemented" errors and
// panics into a message that names the operation and the backend to use instead.
package backend
