package tools_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tools returns the directory of srcvet, exportdriver and staticcheck: $CI_TOOLS, where
// .ci/run built them, or a directory this test builds them into.
func tools(t *testing.T) string {
	if dir := os.Getenv("CI_TOOLS"); dir != "" {
		return dir
	}
	dir := t.TempDir()
	run(t, ".", noBuild, "go", "build", "-gcflags=all=-dwarf=false", "-ldflags=-s -w", "-o", dir+"/",
		"honnef.co/go/tools/cmd/staticcheck", "./srcvet", "./exportdriver")
	return dir
}

// noBuild is the environment of the commands that compile nothing, and of the build
// of the tools: cgo off, and none of the build flags that the test may have been given
// for go vet and staticcheck (.ci/run gives it those of the race build, which has the
// packages they need compiled).
var noBuild = []string{"CGO_ENABLED=0", "GOFLAGS="}

// run runs a command in dir with env added to the test's own, and returns its output
// and whether it succeeded.
func run(t *testing.T, dir string, env []string, name string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	if dir == "." && err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), err == nil
}

// diagnostics returns the lines of out that report a position, with the directory
// taken off their file names, sorted.
func diagnostics(out string) []string {
	pos := regexp.MustCompile(`^(?:vet: )?(?:\S*/)?([\w.]+\.go:\d+:\d+: .*)$`)
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if m := pos.FindStringSubmatch(line); m != nil {
			lines = append(lines, m[1])
		}
	}
	slices.Sort(lines)
	return lines
}

// checks runs, in testdata/module, go vet and srcvet, and staticcheck as it is and with
// exportdriver, all for linux, and returns their diagnostics and whether each passed.
func checks(t *testing.T, module string) (vet, srcvet, staticcheck, driven []string, ok [4]bool) {
	bin := tools(t)
	dir := filepath.Join("testdata", module)
	linux := []string{"GOOS=linux", "GOARCH=amd64"}
	var out [4]string
	out[0], ok[0] = run(t, dir, linux, "go", "vet", "./...")
	out[1], ok[1] = run(t, dir, append(linux, noBuild...), filepath.Join(bin, "srcvet"), "./...")
	out[2], ok[2] = run(t, dir, linux, filepath.Join(bin, "staticcheck"), "./...")
	out[3], ok[3] = run(t, dir, append(append(linux, noBuild...), "GOPACKAGESDRIVER="+filepath.Join(bin, "exportdriver"),
		"EXPORTDRIVER_DIR="+t.TempDir()), filepath.Join(bin, "staticcheck"), "-go", "1.25.0", "./...")
	for i, o := range out {
		t.Logf("%s:\n%s", []string{"go vet", "srcvet", "staticcheck", "staticcheck with exportdriver"}[i], o)
	}
	return diagnostics(out[0]), diagnostics(out[1]), diagnostics(out[2]), diagnostics(out[3]), ok
}

// TestSameDiagnostics shows that srcvet reports what go vet reports, and staticcheck
// with exportdriver what staticcheck reports alone, on a package with faults of each
// kind in its linux files and its tests, and the same faults in files for darwin.
func TestSameDiagnostics(t *testing.T) {
	vet, srcvet, staticcheck, driven, ok := checks(t, "fixture")
	if ok != [4]bool{} {
		t.Errorf("passed (go vet, srcvet, staticcheck, with exportdriver): %v; each should fail", ok)
	}
	want := map[string][]string{
		"go vet": {
			"fmt.Sprintf format %s has arg n of wrong type int",
			"assignment copies lock value to m: sync.Mutex",
			`(*testing.common).Errorf format %d has arg "one" of wrong type string`,
		},
		"staticcheck": {
			"(SA5009)",
			"func unused is unused (U1000)",
			"(S1003)",
		},
	}
	for name, got := range map[string][]string{"go vet": vet, "staticcheck": staticcheck} {
		for _, w := range want[name] {
			if !slices.ContainsFunc(got, func(d string) bool { return strings.Contains(d, w) }) {
				t.Errorf("%s did not report %q", name, w)
			}
		}
		for _, d := range got {
			if !strings.HasPrefix(d, "fixture_linux") {
				t.Errorf("%s reported a file that linux does not build: %s", name, d)
			}
		}
		if slices.ContainsFunc(got, func(d string) bool { return strings.Contains(d, "usedByTests") }) {
			t.Errorf("%s took a function used by tests for unused", name)
		}
	}
	if !slices.Equal(srcvet, vet) {
		t.Errorf("srcvet reported\n\t%s\ngo vet\n\t%s", strings.Join(srcvet, "\n\t"), strings.Join(vet, "\n\t"))
	}
	if !slices.Equal(driven, staticcheck) {
		t.Errorf("staticcheck with exportdriver reported\n\t%s\nalone\n\t%s", strings.Join(driven, "\n\t"), strings.Join(staticcheck, "\n\t"))
	}
}

// TestSameFailure shows that a package that does not type-check fails each check with
// the same error.
func TestSameFailure(t *testing.T) {
	vet, srcvet, staticcheck, driven, ok := checks(t, "broken")
	if ok != [4]bool{} {
		t.Errorf("passed (go vet, srcvet, staticcheck, with exportdriver): %v; each should fail", ok)
	}
	const want = `broken_linux.go:4:23: cannot use "one" (untyped string constant) as int value in return statement`
	for name, got := range map[string][]string{"go vet": vet, "srcvet": srcvet, "staticcheck": staticcheck, "staticcheck with exportdriver": driven} {
		if !slices.ContainsFunc(got, func(d string) bool { return strings.HasPrefix(d, want) }) {
			t.Errorf("%s did not report %s: %q", name, want, got)
		}
	}
}
