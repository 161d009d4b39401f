package tools_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExportFilesWrittenOnce shows that exportdriver leaves a file that is there
// already alone: .ci/vet-ports runs drivers for several ports at once, in one
// directory, and a file rewritten while a tool reads it reads short.
func TestExportFilesWrittenOnce(t *testing.T) {
	driver := filepath.Join(tools(t), "exportdriver")
	dir := t.TempDir()
	load := func() map[string]time.Time {
		t.Helper()
		cmd := exec.Command(driver, "./...")
		cmd.Dir = filepath.Join("testdata", "fixture")
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off", "EXPORTDRIVER_DIR="+dir)
		cmd.Stdin = strings.NewReader(`{"tests": true}`)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("exportdriver: %v", err)
		}
		var resp struct {
			Packages []struct{ ID, ExportFile string }
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		files := map[string]time.Time{}
		for _, p := range resp.Packages {
			if p.ID == "unsafe" {
				continue
			}
			fi, err := os.Stat(p.ExportFile)
			if err != nil {
				t.Fatalf("%s: %v", p.ID, err)
			}
			files[p.ExportFile] = fi.ModTime()
		}
		return files
	}
	first := load()
	if len(first) < 20 {
		t.Fatalf("export data for %d packages; the fixture and the standard packages it imports are more", len(first))
	}
	time.Sleep(10 * time.Millisecond)
	for name, mtime := range load() {
		if was, ok := first[name]; !ok {
			t.Errorf("%s: not written the first time", name)
		} else if !mtime.Equal(was) {
			t.Errorf("%s: written again", name)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
}
