package kernel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestNotebooksCarryTheKernelsLanguageInfo checks that every committed notebook holds exactly
// the language_info the kernel reports: JupyterLab writes the kernel's into a notebook when it
// connects, and a difference marks the notebook modified the moment it is opened (and, saved,
// shows up in git status on every machine).
func TestNotebooksCarryTheKernelsLanguageInfo(t *testing.T) {
	want, err := json.Marshal((&Kernel{}).kernelInfo()["language_info"])
	if err != nil {
		t.Fatal(err)
	}
	var wantInfo any
	if err := json.Unmarshal(want, &wantInfo); err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join("..", "notebooks", "*.ipynb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var nb struct {
			Metadata struct {
				LanguageInfo any `json:"language_info"`
				KernelSpec   any `json:"kernelspec"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(data, &nb); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !reflect.DeepEqual(nb.Metadata.LanguageInfo, wantInfo) {
			t.Errorf("%s: language_info %v, the kernel reports %v", p, nb.Metadata.LanguageInfo, wantInfo)
		}
		wantSpec := map[string]any{"name": "gostudy", "display_name": "Go (gostudy)", "language": "go"}
		if !reflect.DeepEqual(nb.Metadata.KernelSpec, wantSpec) {
			t.Errorf("%s: kernelspec %v, want %v", p, nb.Metadata.KernelSpec, wantSpec)
		}
	}
}
