// total_go: the order total, the same contract as every other plugin language, as a WASI
// preview1 command: the input JSON on stdin, the result on stdout, exit 1 with
// {"error", "cause"} for a negative quantity. Built with GOOS=wasip1 GOARCH=wasm.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
)

type item struct {
	Price float64 `json:"price"`
	Qty   float64 `json:"qty"`
}

type order struct {
	Items []item `json:"items"`
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("InvalidInput", err.Error())
	}
	var o order
	if err := json.Unmarshal(data, &o); err != nil {
		fail("InvalidInput", "the input is not an order: "+err.Error())
	}
	total := 0.0
	for i, it := range o.Items {
		if it.Qty < 0 {
			fail("InvalidItem", fmt.Sprintf("item %d has a negative quantity", i))
		}
		total += it.Price * it.Qty
	}
	total = math.Round(total*100) / 100
	out, _ := json.Marshal(map[string]any{"total": total, "lines": len(o.Items)})
	os.Stdout.Write(out)
}

func fail(name, cause string) {
	out, _ := json.Marshal(map[string]string{"error": name, "cause": cause})
	os.Stdout.Write(out)
	os.Exit(1)
}
