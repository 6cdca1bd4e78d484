// A Go service hosting a cargo-wasmship guest with wazero: the guest is embedded by the
// generated package (copied into ./shipped from the build's output directory), checked
// against its sha256 at startup, compiled once, and instantiated per request.
//
//	go run . 'verdict("https://example.com/")' ...
//
// A call is export(args): numbers, which take the types of the export's parameters (i32, i64,
// f32, f64), or "strings" copied into guest memory through the guest's `alloc` export and
// passed as (pointer, length). Prints {"answers": [[call, value], ...]}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
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
func request(ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule, call string) (any, error) {
	mod, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return nil, err
	}
	defer mod.Close(ctx)
	parts := callPattern.FindStringSubmatch(call)
	if parts == nil {
		return nil, fmt.Errorf("expected export(args)")
	}
	fn := mod.ExportedFunction(parts[1])
	if fn == nil {
		return nil, fmt.Errorf("no export %q", parts[1])
	}
	types := fn.Definition().ParamTypes()
	var params []uint64
	for _, arg := range argPattern.FindAllString(parts[2], -1) {
		at := len(params)
		if arg[0] == '"' {
			if at+2 > len(types) || types[at] != api.ValueTypeI32 || types[at+1] != api.ValueTypeI32 {
				return nil, fmt.Errorf("a \"string\" takes two i32 parameters (pointer, length), and %s's parameters %d and %d are not", parts[1], at+1, at+2)
			}
			text := []byte(arg[1 : len(arg)-1])
			ptr, err := mod.ExportedFunction("alloc").Call(ctx, uint64(len(text)))
			if err != nil {
				return nil, err
			}
			if !mod.Memory().Write(uint32(ptr[0]), text) {
				return nil, fmt.Errorf("writing the argument out of bounds")
			}
			params = append(params, ptr[0], uint64(len(text)))
			continue
		}
		if at >= len(types) {
			return nil, fmt.Errorf("%s takes %d parameters; %q is one too many", parts[1], len(types), arg)
		}
		value, err := encode(arg, types[at])
		if err != nil {
			return nil, fmt.Errorf("parameter %d of %s is %s, and %q is not one", at+1, parts[1], api.ValueTypeName(types[at]), arg)
		}
		params = append(params, value)
	}
	if len(params) != len(types) {
		return nil, fmt.Errorf("%s takes %d parameters, the call gives %d values", parts[1], len(types), len(params))
	}
	results, err := fn.Call(ctx, params...)
	if err != nil || len(results) == 0 {
		return nil, err
	}
	return decode(results[0], fn.Definition().ResultTypes()[0]), nil
}

// encode writes text as a value of type t, the way wazero passes parameters.
func encode(text string, t api.ValueType) (uint64, error) {
	switch t {
	case api.ValueTypeI32:
		if n, err := strconv.ParseInt(text, 10, 32); err == nil {
			return api.EncodeI32(int32(n)), nil
		}
		n, err := strconv.ParseUint(text, 10, 32)
		return uint64(uint32(n)), err
	case api.ValueTypeI64:
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return api.EncodeI64(n), nil
		}
		return strconv.ParseUint(text, 10, 64)
	case api.ValueTypeF32:
		f, err := strconv.ParseFloat(text, 32)
		return api.EncodeF32(float32(f)), err
	case api.ValueTypeF64:
		f, err := strconv.ParseFloat(text, 64)
		return api.EncodeF64(f), err
	}
	return 0, fmt.Errorf("unsupported parameter type")
}

// decode reads a result of type t as a JSON number.
func decode(value uint64, t api.ValueType) any {
	switch t {
	case api.ValueTypeI32:
		return int32(uint32(value))
	case api.ValueTypeI64:
		return int64(value)
	case api.ValueTypeF32:
		return api.DecodeF32(value)
	case api.ValueTypeF64:
		return api.DecodeF64(value)
	}
	return value
}
