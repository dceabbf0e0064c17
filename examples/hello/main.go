// Command hello is the bundled example for buildonce: a stdlib-only Go program whose
// binary is built once and restored by every consumer job.
package main

import (
	"flag"
	"fmt"
	"os"

	"example.com/hello/internal/greet"
)

// version is set at link time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	name := flag.String("name", "world", "who to greet")
	flag.Parse()
	if *showVersion {
		fmt.Printf("hello %s\n", version)
		return
	}
	if *name == "" {
		fmt.Fprintln(os.Stderr, "hello: -name must not be empty")
		os.Exit(2)
	}
	fmt.Println(greet.Message(*name))
}
