package main

import (
	"errors"
	"testing"
)

func TestTokensOf(t *testing.T) {
	tokens := map[string]string{"t1": "repeat-0", "t2": "repeat-0", "t3": "repeat-1"}
	if got := tokensOf(tokens, "repeat-0"); got != 2 {
		t.Errorf("tokensOf(repeat-0) = %d, want 2", got)
	}
	if got := tokensOf(tokens, "nobody"); got != 0 {
		t.Errorf("tokensOf(nobody) = %d, want 0", got)
	}
}

func TestExitStatus(t *testing.T) {
	if got := exitStatus(nil); got != "status 0" {
		t.Errorf("exitStatus(nil) = %q", got)
	}
	if got := exitStatus(errors.New("exit status 1")); got != "exit status 1" {
		t.Errorf("exitStatus = %q", got)
	}
}
