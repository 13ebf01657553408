package session

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	now := time.Unix(1790000000, 0)
	clock := func() time.Time { return now }
	s, err := NewSigner([]byte(strings.Repeat("s", 32)), 0, clock)
	if err != nil {
		t.Fatal(err)
	}
	tok, ttl := s.Issue("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
	if ttl != 7200 {
		t.Fatalf("ttl %d", ttl)
	}
	if openid, err := s.Verify(tok); err != nil || openid != "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" {
		t.Fatalf("%q %v", openid, err)
	}
	other, _ := NewSigner([]byte(strings.Repeat("t", 32)), 0, clock)
	forged, _ := other.Issue("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
	payload := strings.Split(tok, ".")[1]
	cases := map[string]error{
		"":                     ErrMalformed,
		"Bearer " + tok:        ErrMalformed,
		"v2" + tok[2:]:         ErrMalformed,
		forged:                 ErrSignature,
		tok[:len(tok)-1] + "A": ErrSignature,
		"v1." + payload + "x." + strings.Split(tok, ".")[2]: ErrSignature,
		"v1." + payload: ErrMalformed,
	}
	for in, want := range cases {
		if _, err := s.Verify(in); !errors.Is(err, want) {
			t.Errorf("%q: got %v, want %v", in, err, want)
		}
	}
	now = now.Add(2 * time.Hour)
	if _, err := s.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := NewSigner([]byte("short"), 0, nil); err == nil {
		t.Fatal("short secret accepted")
	}
}
