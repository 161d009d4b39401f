// Typecheck type-checks packages for one port from source, with go/types, and prints
// the errors of the packages outside the standard library:
//
//	typecheck GOOS/GOARCH [packages]
//
// It asks `go list -deps` for the port which files each package builds from, then
// parses and checks every package, dependencies first, against the sizes of the
// port's architecture. That is what compiling the packages for the port would find
// wrong in them, without compiling the standard library for every port, which takes
// the go command ten times as long. It exits 1 if it found an error.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// A listed package is what `go list -json` says of one.
type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	ImportMap  map[string]string
	Standard   bool
	Error      *struct{ Err string }
}

func main() {
	if len(os.Args) < 2 || !strings.Contains(os.Args[1], "/") {
		fmt.Fprintln(os.Stderr, "usage: typecheck GOOS/GOARCH [packages]")
		os.Exit(2)
	}
	n, err := check(os.Args[1], os.Args[2:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "typecheck:", err)
		os.Exit(1)
	}
	if n > 0 {
		os.Exit(1)
	}
}

// check type-checks patterns for port and writes the errors it finds to w; it returns
// how many.
func check(port string, patterns []string, w io.Writer) (int, error) {
	goos, goarch, _ := strings.Cut(port, "/")
	pkgs, err := list(goos, goarch, patterns)
	if err != nil {
		return 0, err
	}
	sizes := types.SizesFor("gc", goarch)
	if sizes == nil {
		return 0, fmt.Errorf("no sizes for %s", goarch)
	}
	fset := token.NewFileSet()
	checked := map[string]*types.Package{"unsafe": types.Unsafe}
	errs := 0
	report := func(err error) {
		fmt.Fprintf(w, "%s: %v\n", port, err)
		errs++
	}
	for _, p := range pkgs {
		if p.ImportPath == "unsafe" {
			continue
		}
		if p.Error != nil && strings.Contains(p.Error.Err, "requires external (cgo) linking") {
			// A command for a port that links only with the target's C toolchain
			// (Android on 32-bit or x86, iOS): go list stops at it, and a link is no
			// concern of the checks.
			continue
		}
		if p.Error != nil && !p.Standard {
			report(errors.New(p.Error.Err))
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				report(err)
				continue
			}
			files = append(files, f)
		}
		conf := types.Config{
			Sizes: sizes,
			// What the module's packages can get wrong against a standard package is in
			// its declarations; its function bodies build for every port.
			IgnoreFuncBodies: p.Standard,
			Importer: importer(func(path string) (*types.Package, error) {
				if m, ok := p.ImportMap[path]; ok {
					path = m
				}
				if tp, ok := checked[path]; ok {
					return tp, nil
				}
				return nil, fmt.Errorf("%s: not listed", path)
			}),
			Error: func(err error) {
				// The standard library builds for every port; what go/types cannot
				// follow in it (its assembly, its compiler directives) is no error of
				// the module's.
				if !p.Standard {
					report(err)
				}
			},
		}
		tp, _ := conf.Check(p.ImportPath, fset, files, nil)
		checked[p.ImportPath] = tp
	}
	return errs, nil
}

// list returns the packages that patterns name for goos and goarch, with cgo off, and
// their dependencies, each after those it imports.
func list(goos, goarch string, patterns []string) ([]*listed, error) {
	cmd := exec.Command("go", append([]string{"list", "-e", "-deps", "-json=ImportPath,Dir,GoFiles,ImportMap,Standard,Error"}, patterns...)...)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list for %s/%s: %w", goos, goarch, err)
	}
	var pkgs []*listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			return pkgs, nil
		} else if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, &p)
	}
}

type importer func(string) (*types.Package, error)

func (f importer) Import(path string) (*types.Package, error) { return f(path) }
