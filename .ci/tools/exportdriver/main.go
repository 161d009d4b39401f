// Exportdriver is a driver for golang.org/x/tools/go/packages (GOPACKAGESDRIVER) that
// answers as the go command does, except that the export data it gives for each
// package comes from go/types, which type-checks the package from source, instead of
// from compiling it:
//
//	GOPACKAGESDRIVER=exportdriver EXPORTDRIVER_DIR=DIR staticcheck [packages]
//
// Tools that read the type information of dependencies from export data, such as
// staticcheck, then run as they do with the go command, without the standard library
// being compiled for the port first. The export data is in the indexed format that
// golang.org/x/tools/go/gcexportdata writes and reads. Each file, named by a digest of
// its content, goes in DIR, which must exist and must outlive the tool that reads it.
//
// The packages are those that the go command lists, with the environment (GOOS,
// GOARCH, CGO_ENABLED, GOFLAGS), build flags and overlay of the request. What
// go/packages cannot pass through a driver is each package's module, and with it the
// Go version its go.mod names: give it to the tool, as staticcheck's -go flag.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/tools/go/gcexportdata"
	"golang.org/x/tools/go/packages"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "exportdriver:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := os.Getenv("EXPORTDRIVER_DIR")
	if dir == "" {
		return fmt.Errorf("EXPORTDRIVER_DIR is not set: it names the directory for the export data")
	}
	var req packages.DriverRequest
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	env := req.Env
	if env == nil {
		env = os.Environ()
	}
	cfg := &packages.Config{
		// Syntax and types for every package, dependencies included: go/packages
		// type-checks them from source, and lists them with the go command, which it
		// must not ask this driver again.
		Mode:       packages.LoadAllSyntax | packages.NeedEmbedFiles | packages.NeedEmbedPatterns,
		Env:        append(env[:len(env):len(env)], "GOPACKAGESDRIVER=off"),
		BuildFlags: req.BuildFlags,
		Tests:      req.Tests,
		Overlay:    req.Overlay,
	}
	roots, err := packages.Load(cfg, os.Args[1:]...)
	if err != nil {
		return err
	}
	resp := &packages.DriverResponse{Compiler: "gc", Arch: getenv(env, "GOARCH", runtime.GOARCH)}
	for _, p := range roots {
		resp.Roots = append(resp.Roots, p.ID)
	}
	packages.Visit(roots, nil, func(p *packages.Package) {
		resp.Packages = append(resp.Packages, p)
		// unsafe has no export data, from the compiler either; a package that did
		// not type-check keeps its errors, for the tool to report, and gets none.
		if p.PkgPath == "unsafe" || p.Types == nil || p.IllTyped {
			return
		}
		if p.ExportFile, err = write(dir, p); err != nil {
			p.Errors = append(p.Errors, packages.Error{Msg: err.Error(), Kind: packages.UnknownError})
		}
	})
	return json.NewEncoder(os.Stdout).Encode(resp)
}

// write writes the export data of p into dir and returns the file's name.
func write(dir string, p *packages.Package) (string, error) {
	var b bytes.Buffer
	if err := gcexportdata.Write(&b, p.Fset, p.Types); err != nil {
		return "", fmt.Errorf("export data for %s: %w", p.ID, err)
	}
	sum := sha256.Sum256(b.Bytes())
	name := filepath.Join(dir, hex.EncodeToString(sum[:16]))
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		return "", err
	}
	return name, nil
}

// getenv returns the last value of key in env, as exec.Cmd would pass it, or def.
func getenv(env []string, key, def string) string {
	v := def
	for _, e := range env {
		if s, ok := strings.CutPrefix(e, key+"="); ok && s != "" {
			v = s
		}
	}
	return v
}
