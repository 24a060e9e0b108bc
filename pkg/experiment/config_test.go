package experiment

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type nestedConfig struct {
	Train
	Name    string        `json:"name" help:"a name"`
	Widths  []int         `json:"widths"`
	Timeout time.Duration `json:"timeout"`
	Optim   struct {
		Beta1 float64 `json:"beta1"`
	} `json:"optim"`
	Hidden bool `json:"-"`
}

func TestConfigFileFlagsAndSet(t *testing.T) {
	cfg := nestedConfig{Train: Train{Epochs: 1, BatchSize: 8}, Name: "a", Widths: []int{1}}
	dir := t.TempDir()
	yml := filepath.Join(dir, "c.yaml")
	os.WriteFile(yml, []byte("epochs: 5\nwidths: [2, 3]\noptim:\n  beta1: 0.8\n"), 0o644)
	if err := LoadConfigFile(yml, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Epochs != 5 || cfg.BatchSize != 8 || len(cfg.Widths) != 2 || cfg.Widths[1] != 3 || cfg.Optim.Beta1 != 0.8 {
		t.Errorf("after YAML: %+v", cfg)
	}
	js := filepath.Join(dir, "c.json")
	os.WriteFile(js, []byte(`{"batch_size": 32, "name": "b"}`), 0o644)
	if err := LoadConfigFile(js, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Epochs != 5 || cfg.BatchSize != 32 || cfg.Name != "b" {
		t.Errorf("after JSON: %+v", cfg)
	}
	os.WriteFile(js, []byte(`{"epoch": 3}`), 0o644)
	if err := LoadConfigFile(js, &cfg); err == nil || !strings.Contains(err.Error(), "epoch") {
		t.Errorf("a typo in a config file must be an error, got %v", err)
	}

	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	if _, err := BindFlags(fs, &cfg); err != nil {
		t.Fatal(err)
	}
	if f := fs.Lookup("name"); f == nil || f.Usage != "a name" || f.DefValue != "b" {
		t.Errorf("flag name: %+v", f)
	}
	if fs.Lookup("Hidden") != nil {
		t.Errorf(`json:"-" fields must not become flags`)
	}
	err := fs.Parse([]string{"-learning_rate", "0.5", "-optim.beta1=0.95", "-timeout", "1m30s", "-widths", "[4,5,6]"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LearningRate != 0.5 || cfg.Optim.Beta1 != 0.95 || cfg.Timeout != 90*time.Second || len(cfg.Widths) != 3 {
		t.Errorf("after flags: %+v", cfg)
	}
	if err := Set(&cfg, "epochs", "x"); err == nil {
		t.Errorf("setting an int to x must fail")
	}
	if err := Set(&cfg, "nope", "1"); err == nil || !strings.Contains(err.Error(), "batch_size") {
		t.Errorf("unknown key error should list the fields: %v", err)
	}
}

func TestConfigID(t *testing.T) {
	a := blobDefaults()
	b := blobDefaults()
	ida, _ := ConfigID(a)
	idb, _ := ConfigID(b)
	b.Hidden++
	idc, _ := ConfigID(b)
	if ida != idb || ida == idc || len(ida) != 12 {
		t.Errorf("ids %s %s %s", ida, idb, idc)
	}
}

func TestTrainSettingsRequired(t *testing.T) {
	type noTrain struct{ X int }
	if _, err := trainSettingsOf(&noTrain{}); err == nil {
		t.Errorf("a config without experiment.Train must be rejected")
	}
}
