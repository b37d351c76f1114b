module wasmstep.dev/plugins/total

go 1.21
