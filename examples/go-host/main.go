// A Go service hosting a cargo-wasmship guest with wazero: the guest is embedded by the
// generated package (copied into ./shipped from the build's output directory), checked
// against its sha256 at startup, compiled once, and instantiated per request.
//
//	go run . 'verdict("https://example.com/")' ...
//
// A call is export(args): integers, or "strings" copied into guest memory through the guest's
// `alloc` export and passed as (pointer, length). Prints {"answers": [[call, value], ...]}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	shipped "example.com/go-host/shipped"
)

var callPattern = regexp.MustCompile(`^([^(]+)\((.*)\)$`)
var argPattern = regexp.MustCompile(`"[^"]*"|[^,\s]+`)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(calls []string) error {
	if err := shipped.Check(); err != nil {
		return err
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithMemoryLimitPages(shipped.MemoryLimitPages()))
	defer rt.Close(ctx)
	// WASI guests import WASI (a wasm32-unknown-unknown guest imports nothing).
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	compiled, err := rt.CompileModule(ctx, shipped.Wasm) // once per process
	if err != nil {
		return err
	}
	answers := [][]any{}
	for _, call := range calls {
		value, err := request(ctx, rt, compiled, call)
		if err != nil {
			return fmt.Errorf("%s: %w", call, err)
		}
		answers = append(answers, []any{call, value})
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"answers": answers})
}

// request serves one call with a fresh instance of the compiled module.
func request(ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule, call string) (int32, error) {
	mod, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return 0, err
	}
	defer mod.Close(ctx)
	parts := callPattern.FindStringSubmatch(call)
	if parts == nil {
		return 0, fmt.Errorf("expected export(args)")
	}
	var params []uint64
	for _, arg := range argPattern.FindAllString(parts[2], -1) {
		if arg[0] == '"' {
			text := []byte(arg[1 : len(arg)-1])
			ptr, err := mod.ExportedFunction("alloc").Call(ctx, uint64(len(text)))
			if err != nil {
				return 0, err
			}
			if !mod.Memory().Write(uint32(ptr[0]), text) {
				return 0, fmt.Errorf("writing the argument out of bounds")
			}
			params = append(params, ptr[0], uint64(len(text)))
			continue
		}
		n, err := strconv.ParseInt(arg, 10, 32)
		if err != nil {
			return 0, err
		}
		params = append(params, uint64(uint32(int32(n))))
	}
	fn := mod.ExportedFunction(parts[1])
	if fn == nil {
		return 0, fmt.Errorf("no export %q", parts[1])
	}
	results, err := fn.Call(ctx, params...)
	if err != nil {
		return 0, err
	}
	return int32(uint32(results[0])), nil
}
