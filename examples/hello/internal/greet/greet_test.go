package greet

import "testing"

func TestMessage(t *testing.T) {
	if got := Message(" gopher "); got != "Hello, gopher!" {
		t.Fatalf("Message() = %q", got)
	}
}
