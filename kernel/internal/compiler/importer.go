package compiler

import (
	"bufio"
	"fmt"
	"go/token"
	"go/types"
	"os"
	"sync"

	"golang.org/x/tools/go/gcexportdata"
)

// exportImporter is a go/types importer that reads the export data the go command already
// compiled for the plugin build, so type-checking a cell costs milliseconds and sees exactly
// the packages the cell will be linked against. Packages read stay cached across cells until
// the toolchain reports that local sources changed.
type exportImporter struct {
	mu   sync.Mutex
	fset *token.FileSet
	tc   *Toolchain
	pkgs map[string]*types.Package
	// files records the export file each cached package was read from, to notice rebuilds.
	files map[string]string
}

func newExportImporter(fset *token.FileSet, tc *Toolchain) *exportImporter {
	return &exportImporter{fset: fset, tc: tc, pkgs: map[string]*types.Package{}, files: map[string]string{}}
}

// Import implements types.Importer.
func (im *exportImporter) Import(path string) (*types.Package, error) {
	if path == "unsafe" {
		return types.Unsafe, nil
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	file, ok := im.tc.ExportFile(path)
	if !ok {
		return nil, fmt.Errorf("could not import %s (no compiled package found)", path)
	}
	if p, ok := im.pkgs[path]; ok && p.Complete() && im.files[path] == file {
		return p, nil
	}
	if old, ok := im.files[path]; ok && old != file {
		// A dependency was rebuilt: drop everything, as other cached packages may refer to it.
		im.pkgs = map[string]*types.Package{}
		im.files = map[string]string{}
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open export data of %s: %w", path, err)
	}
	defer f.Close()
	r, err := gcexportdata.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("read export data of %s: %w", path, err)
	}
	p, err := gcexportdata.Read(r, im.fset, im.pkgs, path)
	if err != nil {
		return nil, fmt.Errorf("read export data of %s: %w", path, err)
	}
	im.files[path] = file
	return p, nil
}
