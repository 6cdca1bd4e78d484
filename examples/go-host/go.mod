module example.com/go-host

go 1.22

require github.com/tetratelabs/wazero v1.9.0
