// Package greet builds the greeting printed by the example binary.
package greet

import "strings"

// Message returns the greeting for name.
func Message(name string) string {
	return "Hello, " + strings.TrimSpace(name) + "!"
}
