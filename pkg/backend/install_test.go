package backend

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// These tests drive scripts/install-plugins.sh offline: GPU detection through a fake
// nvidia-smi and a fake /proc/driver/nvidia, linking a (fake) JAX install, and adopting
// an existing plugin without downloading. The download itself needs PyPI and is checked
// by hand (see docs/backends.md).

func installScript(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("install-plugins.sh targets Linux")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "install-plugins.sh")
	if !isFile(script) {
		t.Skipf("no %s", script)
	}
	return script
}

// runInstall runs the script with env added to a clean environment and returns its
// combined output; it fails the test when the exit status differs from wantOK.
func runInstall(t *testing.T, env []string, wantOK bool, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{installScript(t)}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("install-plugins.sh %v: err=%v, want ok=%v\n%s", args, err, wantOK, out)
	}
	return string(out)
}

func TestInstallScriptGPUDetection(t *testing.T) {
	bin := t.TempDir()
	smi := func(name, script string) string {
		p := filepath.Join(bin, name)
		writeFile(t, p, "#!/bin/sh\n"+script, 0o755)
		return p
	}
	noProc := "GOSTUDY_PROC_NVIDIA=" + filepath.Join(t.TempDir(), "absent")
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"r580 driver", []string{"NVIDIA_SMI=" + smi("smi580", "echo 580.65.06\n"), noProc},
			"driver 580.65.06: CUDA 13 plugin (jax-cuda13-pjrt==0.11.2)"},
		{"r535 driver", []string{"NVIDIA_SMI=" + smi("smi535", "echo 535.183.01\n"), noProc},
			"driver 535.183.01: CUDA 12 plugin (jax-cuda12-pjrt==0.11.2)"},
		{"r470 driver", []string{"NVIDIA_SMI=" + smi("smi470", "echo 470.256.02\n"), noProc},
			"driver 470.256.02 is older than r525"},
		{"nvidia-smi fails, no /proc", []string{"NVIDIA_SMI=" + smi("smibad", "exit 9\n"), noProc},
			"no NVIDIA GPU"},
		{"no nvidia-smi, no /proc", []string{"NVIDIA_SMI=" + filepath.Join(bin, "absent"), noProc},
			"no NVIDIA GPU"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := runInstall(t, append(c.env, "GOSTUDY_ARCH=x86_64"), true, "--dry-run", "--no-cpu")
			if !strings.Contains(out, c.want) {
				t.Errorf("want %q in:\n%s", c.want, out)
			}
			if strings.Contains(c.want, "plugin (jax") && !strings.Contains(out, "would pip install jax-cuda") {
				t.Errorf("no install planned:\n%s", out)
			}
		})
	}

	// Only the kernel driver's /proc folder (nvidia-smi missing): its version decides.
	proc := filepath.Join(t.TempDir(), "nvidia")
	writeFile(t, filepath.Join(proc, "version"),
		"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  590.44.01  Release Build\n", 0o644)
	out := runInstall(t, []string{"NVIDIA_SMI=" + filepath.Join(bin, "absent"), "GOSTUDY_PROC_NVIDIA=" + proc,
		"GOSTUDY_ARCH=x86_64"}, true, "--dry-run", "--no-cpu")
	if !strings.Contains(out, "driver 590.44.01: CUDA 13") {
		t.Errorf("/proc only:\n%s", out)
	}
	// An aarch64 GPU box is told to link its JAX install.
	out = runInstall(t, []string{"NVIDIA_SMI=" + smi("smiarm", "echo 580.1\n"), noProc, "GOSTUDY_ARCH=aarch64"},
		true, "--dry-run", "--no-cpu")
	if !strings.Contains(out, "--cuda-from-jax") {
		t.Errorf("aarch64 GPU:\n%s", out)
	}
}

func TestInstallScriptCPUPlan(t *testing.T) {
	env := []string{"NVIDIA_SMI=/nonexistent", "GOSTUDY_PROC_NVIDIA=/nonexistent"}
	for arch, want := range map[string]string{
		"x86_64":  "lammps-jax-pjrt-cpu==0.11.2 (manylinux_2_27_x86_64) sha256:1319390d",
		"aarch64": "xla-cpu-pjrt==0.0.1 (manylinux_2_27_aarch64) sha256:8f613be6",
		"riscv64": "no pinned CPU PJRT plugin wheel for Linux/riscv64",
	} {
		out := runInstall(t, append(env, "GOSTUDY_ARCH="+arch), true, "--dry-run", "--cuda", "no")
		if !strings.Contains(out, want) {
			t.Errorf("%s: want %q in:\n%s", arch, want, out)
		}
	}
}

// fakeJAXSite makes a site-packages folder laid out like `pip install jax[cuda13]`.
func fakeJAXSite(t *testing.T) string {
	site := filepath.Join(t.TempDir(), "lib", "python3.12", "site-packages")
	writeFile(t, filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so"), "fake", 0o755)
	writeFile(t, filepath.Join(site, "jax_cuda13_pjrt-0.11.2.dist-info", "METADATA"), "Name: jax-cuda13-pjrt\n", 0o644)
	for _, lib := range []string{"cu13", "cudnn", "nccl"} {
		writeFile(t, filepath.Join(site, "nvidia", lib, "lib", "libfake.so"), "", 0o644)
	}
	return site
}

func TestInstallScriptLinksJAXPlugin(t *testing.T) {
	site := fakeJAXSite(t)
	dir := t.TempDir()
	env := []string{"NVIDIA_SMI=/nonexistent", "GOSTUDY_PROC_NVIDIA=/nonexistent"}

	// By site-packages folder.
	out := runInstall(t, env, true, "--dir", dir, "--no-cpu", "--cuda-from-jax", site)
	link := filepath.Join(dir, CUDAPluginFile)
	target, err := os.Readlink(link)
	if err != nil || target != filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so") {
		t.Fatalf("symlink %s -> %q (%v)\n%s", link, target, err, out)
	}
	envFile, err := os.ReadFile(filepath.Join(dir, "cuda.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GOPJRT_CUDA_CHECKS=0", "PJRT_PLUGIN_LIBRARY_PATH=\"" + dir,
		filepath.Join(site, "nvidia", "cu13", "lib") + ":", filepath.Join(site, "nvidia", "nccl", "lib") + ":"} {
		if !strings.Contains(string(envFile), want) {
			t.Errorf("cuda.env lacks %q:\n%s", want, envFile)
		}
	}
	if w, _ := os.ReadFile(link + ".wheel"); !strings.Contains(string(w), "jax-cuda13-pjrt==0.11.2") {
		t.Errorf("wheel note = %q", w)
	}

	// By python: a python that sees the fake site through PYTHONPATH finds it the same way.
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	runInstall(t, append(env, "PYTHONPATH="+site), true, "--dir", dir, "--no-cpu", "--cuda-from-jax", py)
	if target, _ := os.Readlink(link); !strings.HasPrefix(target, site) {
		t.Errorf("via python: symlink -> %q, want under %s", target, site)
	}

	// The Go side picks the linked plugin up when a GPU is present.
	t.Setenv(EnvPlugins, dir)
	reset(t, GPUInfo{Present: true, Detail: "fake GPU"})
	if c := Available()[0]; !c.Usable || !strings.Contains(c.Detail, "-> "+filepath.Join(site, "jax_plugins")) {
		t.Errorf("Available()[0] after linking: %+v", c)
	}

	// A python without JAX is refused with a hint.
	out = runInstall(t, env, false, "--dir", dir, "--no-cpu", "--cuda-from-jax", py)
	if !strings.Contains(out, "no jax_plugins") {
		t.Errorf("python without JAX:\n%s", out)
	}
}

func TestInstallScriptAdoptsExistingPluginOffline(t *testing.T) {
	cpu := realCPUPlugin(t)
	if real, err := filepath.EvalSymlinks(cpu); err == nil {
		cpu = real
	}
	dir := t.TempDir()
	target := filepath.Join(dir, CPUPluginFile)
	// A hard link costs nothing; the script never writes into an existing plugin file.
	if err := os.Link(cpu, target); err != nil {
		copyFile(t, cpu, target)
	}
	// /bin/false as python: any attempt to download fails the run.
	env := []string{"NVIDIA_SMI=/nonexistent", "GOSTUDY_PROC_NVIDIA=/nonexistent", "GOSTUDY_ARCH=x86_64"}
	out := runInstall(t, env, true, "--dir", dir, "--python", "/bin/false")
	if !strings.Contains(out, "matches lammps-jax-pjrt-cpu==0.11.2; recorded its hash") {
		t.Errorf("first run:\n%s", out)
	}
	sum, _ := os.ReadFile(target + ".sha256")
	if string(sum) != "ad1309ac822b1b24d51b7f9947c7c9fa9ef5d67f390584cbc3d1fa2428fed9c2  pjrt_c_api_cpu_plugin.so\n" {
		t.Errorf("hash file = %q", sum)
	}
	out = runInstall(t, env, true, "--dir", dir, "--python", "/bin/false")
	if !strings.Contains(out, "already installed") {
		t.Errorf("second run:\n%s", out)
	}

	// A file that is not the pinned plugin is not accepted: the script goes to download
	// (and fails here, with no pip).
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, CPUPluginFile), "tampered", 0o755)
	writeFile(t, filepath.Join(bad, CPUPluginFile+".sha256"),
		"ad1309ac822b1b24d51b7f9947c7c9fa9ef5d67f390584cbc3d1fa2428fed9c2  pjrt_c_api_cpu_plugin.so\n", 0o644)
	out = runInstall(t, env, false, "--dir", bad, "--python", "/bin/false")
	if !strings.Contains(out, "downloading") {
		t.Errorf("tampered plugin:\n%s", out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
