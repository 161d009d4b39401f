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
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	env := req.Env
	if env == nil {
		env = os.Environ()
	}
	cfg := &packages.Config{
		// Syntax and types for every package, dependencies included: go/packages
		// type-checks them from source, and lists them with the go command, which it
		// must not ask this driver again. Outside the working directory, only their
		// declarations (parseDeclarations).
		Mode:       packages.LoadAllSyntax | packages.NeedEmbedFiles | packages.NeedEmbedPatterns,
		Env:        append(env[:len(env):len(env)], "GOPACKAGESDRIVER=off"),
		BuildFlags: req.BuildFlags,
		Tests:      req.Tests,
		Overlay:    req.Overlay,
		ParseFile:  parseDeclarations(wd),
	}
	roots, err := packages.Load(cfg, os.Args[1:]...)
	if err != nil {
		return err
	}
	resp := &packages.DriverResponse{Compiler: "gc", Arch: getenv(env, "GOARCH", runtime.GOARCH)}
	for _, p := range roots {
		resp.Roots = append(resp.Roots, p.ID)
	}
	failed := map[*packages.Package]bool{}
	packages.Visit(roots, nil, func(p *packages.Package) {
		resp.Packages = append(resp.Packages, p)
		// Without the bodies (parseDeclarations), an import that only they used is
		// unused, a soft error, which go/types reports once it has checked the rest.
		soft := map[string]bool{}
		for _, e := range p.TypeErrors {
			if e.Soft {
				soft[e.Fset.Position(e.Pos).String()+" "+e.Msg] = true
			}
		}
		p.Errors = slices.DeleteFunc(p.Errors, func(e packages.Error) bool {
			return e.Kind == packages.TypeError && soft[e.Pos+" "+e.Msg]
		})
		// A package that did not load or type-check, or imports one, keeps its errors,
		// for the tool to report, and gets no export data; unsafe has none, from the
		// compiler either.
		failed[p] = len(p.Errors) > 0 || p.Types == nil
		for _, imp := range p.Imports {
			failed[p] = failed[p] || failed[imp]
		}
		if failed[p] || p.PkgPath == "unsafe" {
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
	if _, err := os.Stat(name); err == nil {
		return name, nil
	}
	// Drivers run at once for several ports write the files they have in common: each
	// writes its own and renames it, so that none reads a file another is writing.
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
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

// parseDeclarations returns a parser for go/packages that keeps the files under dir
// whole, and replaces the body of each function elsewhere with a panic, which go/types
// takes as a body that returns. Export data holds no bodies, and go/types then checks
// only what it is made of, in half the time; the packages under dir (the module the
// tool checks) are type-checked whole, so that their errors are reported as the
// compiler reports them.
func parseDeclarations(dir string) func(*token.FileSet, string, []byte) (*ast.File, error) {
	return func(fset *token.FileSet, filename string, src []byte) (*ast.File, error) {
		f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution|parser.ParseComments)
		if f == nil || strings.HasPrefix(filename, dir+string(filepath.Separator)) {
			return f, err
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				fd.Body = &ast.BlockStmt{Lbrace: fd.Body.Lbrace, Rbrace: fd.Body.Rbrace, List: []ast.Stmt{
					&ast.ExprStmt{X: &ast.CallExpr{Fun: ast.NewIdent("panic"), Args: []ast.Expr{ast.NewIdent("nil")}}},
				}}
			}
		}
		return f, err
	}
}
