// Typecheck type-checks packages for ports from source, with go/types, and prints
// the errors of the packages outside the standard library:
//
//	typecheck GOOS/GOARCH[,GOOS/GOARCH...] [packages]
//
// For each port it asks `go list -deps` which files each package builds from, then
// checks every package, dependencies first, against the sizes of the port's
// architecture. That is what compiling the packages for the port would find wrong in
// them, without compiling the standard library for every port, which takes the go
// command ten times as long. The ports are checked at once, as many as there are
// processors, and each file is parsed once for all of them. It exits 1 if it found an
// error.
package main

import (
	"bytes"
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
	"runtime"
	"strings"
	"sync"
)

// A listed package is what `go list -json` says of one.
type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	ImportMap  map[string]string
	Standard   bool
	Module     *struct{ GoVersion string }
	Error      *struct{ Err string }
}

func main() {
	if len(os.Args) < 2 || !strings.Contains(os.Args[1], "/") {
		fmt.Fprintln(os.Stderr, "usage: typecheck GOOS/GOARCH[,GOOS/GOARCH...] [packages]")
		os.Exit(2)
	}
	ports := strings.Split(os.Args[1], ",")
	type result struct {
		out bytes.Buffer
		n   int
		err error
	}
	results := make([]result, len(ports))
	files := &parsed{fset: token.NewFileSet(), files: make(map[string]*parsedFile)}
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, port := range ports {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := &results[i]
			r.n, r.err = check(port, os.Args[2:], files, &r.out)
		})
	}
	wg.Wait()
	failed := false
	for i := range results {
		r := &results[i]
		os.Stdout.Write(r.out.Bytes())
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "typecheck: %s: %v\n", ports[i], r.err)
		}
		failed = failed || r.err != nil || r.n > 0
	}
	if failed {
		os.Exit(1)
	}
}

// parsed holds the files parsed so far, for every port, by path. go/types only reads
// a syntax tree, so the ports share them.
type parsed struct {
	fset  *token.FileSet
	mu    sync.Mutex
	files map[string]*parsedFile
}

type parsedFile struct {
	once sync.Once
	f    *ast.File
	err  error
}

// parse returns the syntax tree of the file at path, parsing it on first use.
func (p *parsed) parse(path string) (*ast.File, error) {
	p.mu.Lock()
	pf := p.files[path]
	if pf == nil {
		pf = new(parsedFile)
		p.files[path] = pf
	}
	p.mu.Unlock()
	pf.once.Do(func() {
		pf.f, pf.err = parser.ParseFile(p.fset, path, nil, parser.SkipObjectResolution)
	})
	return pf.f, pf.err
}

// check type-checks patterns for port and writes the errors it finds to w; it returns
// how many.
func check(port string, patterns []string, files *parsed, w io.Writer) (int, error) {
	goos, goarch, _ := strings.Cut(port, "/")
	pkgs, err := list(goos, goarch, patterns)
	if err != nil {
		return 0, err
	}
	sizes := types.SizesFor("gc", goarch)
	if sizes == nil {
		return 0, fmt.Errorf("no sizes for %s", goarch)
	}
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
		var syntax []*ast.File
		for _, name := range p.GoFiles {
			f, err := files.parse(filepath.Join(p.Dir, name))
			if err != nil {
				report(err)
				continue
			}
			syntax = append(syntax, f)
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
		if p.Module != nil && p.Module.GoVersion != "" {
			// The language version that go.mod names, as the compiler takes it.
			conf.GoVersion = "go" + p.Module.GoVersion
		}
		tp, _ := conf.Check(p.ImportPath, files.fset, syntax, nil)
		checked[p.ImportPath] = tp
	}
	return errs, nil
}

// list returns the packages that patterns name for goos and goarch, with cgo off, and
// their dependencies, each after those it imports.
func list(goos, goarch string, patterns []string) ([]*listed, error) {
	cmd := exec.Command("go", append([]string{"list", "-e", "-deps", "-json=ImportPath,Dir,GoFiles,ImportMap,Standard,Module,Error"}, patterns...)...)
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
