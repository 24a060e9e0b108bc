package experiment

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Train holds the knobs every run shares. A lesson's config struct embeds it (by value, without
// a json tag) so that its fields appear at the top level of the config: "epochs", "batch_size", ...
//
//	type Config struct {
//		experiment.Train
//		Hidden int `json:"hidden" help:"hidden units"`
//	}
type Train struct {
	// Epochs is the number of passes over the training data.
	Epochs int `json:"epochs" help:"passes over the training data"`
	// BatchSize is read by the lesson's data source; the runner only records it.
	BatchSize int `json:"batch_size" help:"examples per training batch"`
	// LearningRate is used by the default optimizer (Adam).
	LearningRate float64 `json:"learning_rate" help:"optimizer learning rate"`
	// CheckpointEvery saves a resumable checkpoint every this many steps, on top of the one
	// saved at the end of every epoch; 0 saves only at epoch ends.
	CheckpointEvery int `json:"checkpoint_every" help:"steps between mid-epoch checkpoints (0: epoch ends only)"`
	// LogEvery records the training loss every this many steps (0 means 10).
	LogEvery int `json:"log_every" help:"steps between loss points in the run record"`
}

// TrainSettings returns t itself. It exists so that the runner can reach the embedded Train of
// any config type: the method is promoted to *Config when Config embeds Train.
func (t *Train) TrainSettings() *Train { return t }

// trainSettingsOf returns the Train block embedded in the config pointed to by cfgPtr.
func trainSettingsOf(cfgPtr any) (*Train, error) {
	ts, ok := cfgPtr.(interface{ TrainSettings() *Train })
	if !ok {
		return nil, fmt.Errorf("config type %T does not embed experiment.Train", cfgPtr)
	}
	return ts.TrainSettings(), nil
}

// ConfigJSON returns the canonical JSON encoding of a config: encoding/json's field order, no
// indentation. Two configs with the same JSON are the same run.
func ConfigJSON(cfg any) ([]byte, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode config %T: %w", cfg, err)
	}
	return b, nil
}

// ConfigID is a short stable identifier of a config: the first 12 hex digits of the SHA-256 of
// its canonical JSON. Runs of the same config (any seed) share it, so a finished run is found
// again by value, not by a path someone copied.
func ConfigID(cfg any) (string, error) {
	b, err := ConfigJSON(cfg)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12], nil
}

// LoadConfigFile overrides the fields of the config pointed to by cfgPtr with those present in
// a JSON (.json) or YAML (.yaml, .yml) file. Keys are the json names of the fields; fields the
// file does not mention keep their value, and unknown keys are an error (a typo must not be
// silently ignored).
func LoadConfigFile(path string, cfgPtr any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
	case ".yaml", ".yml":
		// YAML is turned into JSON so that one set of struct tags (json) names the fields in
		// both formats and the same strict decoding applies.
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("parse YAML config %s: %w", path, err)
		}
		if data, err = json.Marshal(doc); err != nil {
			return fmt.Errorf("convert YAML config %s to JSON: %w", path, err)
		}
	default:
		return fmt.Errorf("config file %s: unknown extension (want .json, .yaml or .yml)", path)
	}
	if err := decodeStrict(data, cfgPtr); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// decodeStrict decodes JSON into v, rejecting unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// Field describes one settable field of a config, as found by [Fields].
type Field struct {
	// Key is the json name, dotted for fields of nested (non-embedded) structs: "optim.beta1".
	Key string
	// Help is the field's `help` struct tag.
	Help string
	// Type is the Go type of the field.
	Type  reflect.Type
	value reflect.Value
}

// Value returns the field's current value formatted for a flag's default or a table cell.
func (f Field) Value() string { return formatValue(f.value) }

// Fields lists the settable fields of the config pointed to by cfgPtr, in declaration order, with
// fields of embedded structs promoted as encoding/json promotes them.
func Fields(cfgPtr any) ([]Field, error) {
	v := reflect.ValueOf(cfgPtr)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config must be a pointer to a struct, got %T", cfgPtr)
	}
	var out []Field
	collectFields(v.Elem(), "", &out)
	return out, nil
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func collectFields(v reflect.Value, prefix string, out *[]Field) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, hasTag := jsonName(sf)
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		isStruct := sf.Type.Kind() == reflect.Struct && sf.Type != durationType &&
			!reflect.PointerTo(sf.Type).Implements(textUnmarshalerType)
		if sf.Anonymous && !hasTag && isStruct {
			collectFields(fv, prefix, out)
			continue
		}
		key := prefix + name
		if isStruct {
			collectFields(fv, key+".", out)
			continue
		}
		*out = append(*out, Field{Key: key, Help: sf.Tag.Get("help"), Type: sf.Type, value: fv})
	}
}

// jsonName returns the name encoding/json uses for the field and whether a tag gave it.
func jsonName(sf reflect.StructField) (string, bool) {
	tag := sf.Tag.Get("json")
	if tag == "" {
		return sf.Name, false
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		return sf.Name, false
	}
	return name, true
}

// Set assigns a value given as text to the field named key (see [Field.Key]) of the config
// pointed to by cfgPtr. Strings are taken verbatim, durations use time.ParseDuration, types
// implementing encoding.TextUnmarshaler use it, and everything else is parsed as JSON (so
// "3", "0.5", "true" and "[1,2]" all work).
func Set(cfgPtr any, key, value string) error {
	fields, err := Fields(cfgPtr)
	if err != nil {
		return err
	}
	for _, f := range fields {
		if f.Key != key {
			continue
		}
		if err := setValue(f.value, value); err != nil {
			return fmt.Errorf("set %s=%q: %w", key, value, err)
		}
		return nil
	}
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.Key
	}
	sort.Strings(keys)
	return fmt.Errorf("config %T has no field %q (fields: %s)", cfgPtr, key, strings.Join(keys, ", "))
}

func setValue(v reflect.Value, text string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(text)
		if err != nil {
			return fmt.Errorf("parse duration: %w", err)
		}
		v.SetInt(int64(d))
		return nil
	}
	if v.Addr().Type().Implements(textUnmarshalerType) {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			return fmt.Errorf("unmarshal text: %w", err)
		}
		return nil
	}
	if v.Kind() == reflect.String {
		v.SetString(text)
		return nil
	}
	ptr := reflect.New(v.Type())
	if err := json.Unmarshal([]byte(text), ptr.Interface()); err != nil {
		return fmt.Errorf("parse as %s: %w", v.Type(), err)
	}
	v.Set(ptr.Elem())
	return nil
}

func formatValue(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	if v.Kind() == reflect.String {
		return v.String()
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		if b, err := m.MarshalText(); err == nil {
			return string(b)
		}
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	return string(b)
}

// fieldFlag adapts one config field to flag.Value.
type fieldFlag struct {
	cfgPtr any
	field  Field
}

func (f *fieldFlag) String() string {
	if f == nil || f.cfgPtr == nil {
		return ""
	}
	return f.field.Value()
}

func (f *fieldFlag) Set(s string) error { return Set(f.cfgPtr, f.field.Key, s) }

// IsBoolFlag lets "-flag" alone mean true for bool fields, as the flag package does.
func (f *fieldFlag) IsBoolFlag() bool { return f.field.Type.Kind() == reflect.Bool }

// BindFlags registers one flag per config field on fs (named by the field's key, with its help
// tag as usage and its current value as default). Parsing fs then overrides the config, so the
// order "defaults, then file, then flags" is: fill the config, LoadConfigFile, BindFlags, Parse.
// Keys that collide with a flag already defined on fs are skipped and returned.
func BindFlags(fs *flag.FlagSet, cfgPtr any) (skipped []string, err error) {
	fields, err := Fields(cfgPtr)
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		if fs.Lookup(f.Key) != nil {
			skipped = append(skipped, f.Key)
			continue
		}
		fs.Var(&fieldFlag{cfgPtr: cfgPtr, field: f}, f.Key, f.Help)
	}
	return skipped, nil
}
