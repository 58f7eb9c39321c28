package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deposit-rvm/rvm/gateway"
	"github.com/deposit-rvm/rvm/gateway/store"
)

func TestTillsAdd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "gw.db")
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"tills", "add", "-db", db, "till-1"}, ""},
		{[]string{"tills", "add", "till-2", "-db", db}, ""},
		{[]string{"tills", "add", "-db", db, "till-1"}, "exists"},
		{[]string{"tills", "add", "-db", db, "bad name"}, "a name is"},
		{[]string{"tills", "add", "-db", db}, "usage"},
		{[]string{"tills", "list", "-db", db}, "usage"},
		{[]string{"stations", "add", "-db", db, "-name", "s1"}, "usage"},
	}
	tokens := map[string]string{}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tt.args, &out, &errOut)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %v; want an error with %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		var got struct{ Till, Token string }
		if err != nil || json.Unmarshal(out.Bytes(), &got) != nil || strings.Count(out.String(), "\n") != 1 || got.Token == "" {
			t.Errorf("run(%q) = %v, printed %q; want one JSON line {till, token}", tt.args, err, out.String())
			continue
		}
		tokens[got.Till] = got.Token
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, tok := range tokens {
		if got, err := st.TillByToken(context.Background(), gateway.HashToken(tok)); err != nil || got != name {
			t.Errorf("TillByToken(hash of %s's token) = %q, %v; want %s", name, got, err, name)
		}
		if _, err := st.TillByToken(context.Background(), tok); err == nil {
			t.Errorf("TillByToken(the token itself) found a till; want the store to hold only its hash")
		}
	}
	if len(tokens) != 2 || tokens["till-1"] == tokens["till-2"] {
		t.Errorf("tokens = %v; want two different", tokens)
	}
}
